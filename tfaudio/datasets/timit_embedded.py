"""Deterministic speech-like audio written as a TIMIT release: the embedded corpora.

The speech comes from :mod:`tfaudio.datasets.speech_synth` (a source-filter
synthesiser). :func:`write_timit_tree` / :func:`write_timit_release` write it **in the
TIMIT layout** (``<root>/TRAIN/DR1/<SPEAKER>/<UTT>.WAV`` as NIST SPHERE 16-bit PCM with
the ``.TXT``, ``.PHN`` and ``.WRD`` side files), so the readers' real TIMIT code path
is the one exercised. Its users: Quality-Net's embedded quality set (speech plus the
noises named in :data:`NOISE_NAMES`, whose signals live in
:mod:`tfaudio.datasets.noise`) and the transfer system's embedded TIMIT release (the
embedded IEMOCAP release, :mod:`tfaudio.datasets.iemocap_embedded`, uses the
synthesiser too).

Everything is a pure function of its seed: the same call gives the same samples and
the same file bytes.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tfaudio.atomic import write_text
from tfaudio.audio.io import write_audio
from tfaudio.datasets.speech_synth import SyntheticSpeaker, make_speakers, synth_utterance

log = logging.getLogger(__name__)

#: Bump whenever generated samples would change: cached embedded sets are keyed on it.
GENERATOR_VERSION = "qsynth-1"

#: The noises of the embedded quality set (their signals: :mod:`tfaudio.datasets.noise`).
NOISE_NAMES = ("white", "pink", "babble", "factory1", "destroyerengine", "street",
               "volvo", "f16")

def _write_sphere(path: Path, audio: np.ndarray, sr: int) -> None:
    write_audio(path, audio, sr, subtype="PCM_16", format="NIST")


def utterance_names(count: int) -> List[str]:
    """TIMIT-style names: SA1, SA2, then SX/SI numbers."""
    names = ["SA1", "SA2"][:count]
    k = 0
    while len(names) < count:
        names.append(f"SX{10 + k}" if k % 3 else f"SI{500 + k}")
        k += 1
    return names


def _write_speaker(root: Path, si: int, spk: SyntheticSpeaker, names: Sequence[str],
                   seed: int, sample_rate: int, min_seconds: float, max_seconds: float,
                   subset: str, dialect_region: str) -> List[Path]:
    spk_dir = root / subset / dialect_region / spk.name
    paths = []
    for ui, uname in enumerate(names):
        plan_rng = np.random.default_rng([seed, 17, si, ui])
        seconds = float(plan_rng.uniform(min_seconds, max_seconds) * 0.85)
        level = float(plan_rng.uniform(-31.0, -22.0))
        if uname in ("SA1", "SA2"):
            # shared sentence: the same plan seed for everybody, own voice
            utt_seed = [seed, 99, ui]
            seconds = float(np.random.default_rng([seed, 5, ui]).uniform(
                min_seconds, max_seconds) * 0.85)
        else:
            utt_seed = [seed, 23, si, ui]
        audio, segs = synth_utterance(spk, utt_seed, seconds=seconds,
                                      sample_rate=sample_rate, level_db=level)
        max_n = int(max_seconds * sample_rate)
        if audio.shape[0] > max_n:  # keep within the requested range
            audio = audio[:max_n]
            segs = [(s, min(e, max_n), lab) for s, e, lab in segs if s < max_n]
        wav = spk_dir / f"{uname}.WAV"
        _write_sphere(wav, audio, sample_rate)
        words = " ".join(lab for _, _, lab in segs if lab not in ("h#", "pau"))
        write_text(spk_dir / f"{uname}.TXT", f"0 {audio.shape[0]} {words}\n")
        write_text(spk_dir / f"{uname}.PHN", "".join(f"{s} {e} {lab}\n" for s, e, lab in segs))
        write_text(spk_dir / f"{uname}.WRD", "".join(f"{s} {e} {w}\n" for s, e, w in _words(segs)))
        paths.append(wav)
    return paths


def _words(segs: Sequence[Tuple[int, int, str]]) -> List[Tuple[int, int, str]]:
    """``.WRD`` entries: each run of phones between silences is one word, spelled by
    its phones joined with ``-``."""
    words, run = [], []
    for seg in list(segs) + [(0, 0, "h#")]:
        if seg[2] in ("h#", "pau"):
            if run:
                words.append((run[0][0], run[-1][1], "-".join(lab for _, _, lab in run)))
            run = []
        else:
            run.append(seg)
    return words


def write_timit_tree(
    root,
    n_speakers: int = 12,
    utterances_per_speaker: int = 25,
    seed: int = 0,
    sample_rate: int = 16000,
    min_seconds: float = 1.0,
    max_seconds: float = 3.0,
    subset: str = "TRAIN",
    dialect_region: str = "DR1",
    workers: Optional[int] = 1,
) -> List[Path]:
    """Write synthetic speech as ``root/<subset>/<dialect_region>/<SPEAKER>/<UTT>.WAV``.

    Each utterance is NIST SPHERE, 16-bit PCM, with ``.TXT`` (``0 <samples> <text>``)
    and ``.PHN`` (``start end label`` lines) side files, as in TIMIT. SA1/SA2 use the
    same phone-plan seed for every speaker (like TIMIT's shared sentences).
    Durations fall within ``[min_seconds, max_seconds]`` (the plan targets 85 % of
    a uniform draw; the result is cut at ``max_seconds``). ``workers`` processes
    share the speakers (``None`` = all cores); the output does not depend on it.
    Returns the sorted list of ``.WAV`` paths.
    """
    root = Path(root)
    names = utterance_names(utterances_per_speaker)
    jobs = [(root, si, spk, names, seed, sample_rate, min_seconds, max_seconds, subset,
             dialect_region) for si, spk in enumerate(make_speakers(n_speakers, seed))]
    n_workers = min(len(jobs), int(workers) if workers else (os.cpu_count() or 1))
    paths: List[Path] = []
    if n_workers <= 1:
        for job in jobs:
            paths.extend(_write_speaker(*job))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = (multiprocessing.get_context("fork")
               if "fork" in multiprocessing.get_all_start_methods() else None)
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as ex:
            for res in ex.map(_write_speaker, *zip(*jobs)):
                paths.extend(res)
    return sorted(paths)


def write_timit_release(
    root,
    train_speakers: int = 8,
    dev_speakers: int = 2,
    test_speakers: int = 2,
    utterances_per_speaker: int = 8,
    seed: int = 0,
    sample_rate: int = 16000,
    min_seconds: float = 1.0,
    max_seconds: float = 2.5,
    speaker_names: Optional[Dict[str, Sequence[str]]] = None,
    workers: Optional[int] = 1,
) -> List[Path]:
    """A miniature TIMIT release: ``TRAIN/`` with ``train_speakers`` synthetic talkers
    and ``TEST/`` with talkers named after ``speaker_names["dev"]`` and
    ``speaker_names["test"]`` (the reader's fixed development / core-test lists), spread
    over the dialect regions DR1..DR8. Every speaker reads SA1, SA2 (shared plans) and
    ``utterances_per_speaker`` own sentences; ``.WAV`` (SPHERE), ``.PHN``, ``.WRD``
    and ``.TXT`` as in the corpus. Returns the sorted ``.WAV`` paths."""
    import dataclasses

    root = Path(root)
    names = utterance_names(utterances_per_speaker + 2)
    train = make_speakers(train_speakers, seed)
    held = make_speakers(dev_speakers + test_speakers, seed + 1)
    listed = speaker_names or {}
    jobs = []
    for si, spk in enumerate(train):
        jobs.append((root, si, spk, names, seed, sample_rate, min_seconds, max_seconds, "TRAIN",
                     f"DR{1 + si % 8}"))
    wanted = list(listed.get("dev", ()))[:dev_speakers] + list(listed.get("test", ()))[:test_speakers]
    if len(wanted) != dev_speakers + test_speakers:
        raise ValueError("speaker_names must list at least dev_speakers / test_speakers names")
    for k, (spk, name) in enumerate(zip(held, wanted)):
        spk = dataclasses.replace(spk, name=name)
        jobs.append((root, train_speakers + k, spk, names, seed, sample_rate, min_seconds, max_seconds,
                     "TEST", f"DR{1 + k % 8}"))
    paths: List[Path] = []
    for job in jobs:
        paths.extend(_write_speaker(*job))
    return sorted(paths)
