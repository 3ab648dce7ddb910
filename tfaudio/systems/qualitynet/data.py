"""Quality-Net's embedded default data: synthetic TIMIT-layout speech and noises
(:mod:`tfaudio.datasets.timit_embedded`) labelled with PESQ by the quality-set builder
(:mod:`tfaudio.systems.qualitynet.quality_set`), built once in the cache."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

from tfaudio.atomic import write_json
from tfaudio.datasets.noise import write_noise_folder
from tfaudio.datasets.timit_embedded import GENERATOR_VERSION, NOISE_NAMES, write_timit_tree

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------
EMBEDDED_DEFAULTS = dict(
    n_speakers=16,
    utterances_per_speaker=24,
    noise_seconds=12.0,
    # the paper's eight levels (-10..25 dB) plus 30..40 dB, so that the PESQ range
    # between the noisiest items and clean speech (about 3 to 4.5) is populated too
    snrs=(-10, -5, 0, 5, 10, 15, 20, 25, 30, 35, 40),
    clean_fraction=0.1,
    enhanced_fraction=0.45,
    splits=(0.75, 0.125, 0.125),
)


def embedded_version(seed: int = 0, **overrides) -> str:
    """Folder name of an embedded set: generator + enhancer version and its parameters."""
    from tfaudio.audio.enhance import ENHANCER_VERSION

    params = dict(EMBEDDED_DEFAULTS)
    params.update({k: v for k, v in overrides.items() if v is not None})
    tag = "{}-{}-s{}x{}-seed{}".format(
        GENERATOR_VERSION, ENHANCER_VERSION, params["n_speakers"],
        params["utterances_per_speaker"], seed)
    extra = {k: params[k] for k in ("noise_seconds", "snrs", "clean_fraction",
                                    "enhanced_fraction", "splits")}
    if extra != {k: EMBEDDED_DEFAULTS[k] for k in extra}:
        import hashlib

        tag += "-" + hashlib.sha1(json.dumps(extra, sort_keys=True, default=list)
                                  .encode()).hexdigest()[:8]
    return tag


def ensure_embedded_quality_set(
    cache_dir=None,
    n_speakers: Optional[int] = None,
    utterances_per_speaker: Optional[int] = None,
    seed: int = 0,
    workers: Optional[int] = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Path of the embedded Quality-Net set, building it on first use.

    The returned folder holds ``train.csv``, ``dev.csv``, ``test.csv``, ``all.csv``
    (read them with :func:`tfaudio.systems.qualitynet.manifest.read_manifest`), ``audio/`` and the
    generated sources under ``sources/speech`` (TIMIT layout) and ``sources/noise``.
    ``cache_dir`` defaults to ``cache_root()/embedded/qualitynet``; the set lives in
    a subfolder named by :func:`embedded_version`, so a changed generator builds a
    new one. The build happens in a temporary sibling folder renamed into place at
    the end: an interrupted build never leaves a half set (``force=True`` rebuilds).
    """
    from tfaudio.data.cache import build_once, embedded_dir
    from tfaudio.systems.qualitynet.quality_set import make_quality_set

    params = dict(EMBEDDED_DEFAULTS)
    if n_speakers is not None:
        params["n_speakers"] = int(n_speakers)
    if utterances_per_speaker is not None:
        params["utterances_per_speaker"] = int(utterances_per_speaker)
    base = Path(cache_dir) if cache_dir is not None else embedded_dir("qualitynet")
    version = embedded_version(seed, n_speakers=params["n_speakers"],
                               utterances_per_speaker=params["utterances_per_speaker"])
    final = base / version
    if (final / "DONE").is_file() and not force:
        return final
    t0 = time.time()

    def build(tmp: Path) -> None:
        log.info("building the embedded Quality-Net set in %s", final)
        speech = write_timit_tree(tmp / "sources" / "speech", params["n_speakers"],
                                  params["utterances_per_speaker"], seed=seed,
                                  workers=workers)
        t_speech = time.time() - t0
        write_noise_folder(tmp / "sources" / "noise", NOISE_NAMES, seconds=params["noise_seconds"],
                           seed=seed)
        t_noise = time.time() - t0 - t_speech
        result = make_quality_set(
            tmp / "sources" / "speech" / "TRAIN", tmp / "sources" / "noise", tmp,
            snrs=params["snrs"], sample_rate=16000,
            clean_fraction=params["clean_fraction"],
            enhanced_fraction=params["enhanced_fraction"], seed=seed,
            splits=params["splits"], workers=workers, progress=progress,
        )
        t_label = time.time() - t0 - t_speech - t_noise
        meta = {
            "version": version,
            "generator": GENERATOR_VERSION,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
            "seed": seed,
            "utterances": len(speech),
            "rows": result.counts,
            "skipped": len(result.skipped),
            "seconds": {"speech": round(t_speech, 1), "noise": round(t_noise, 1),
                        "labelling": round(t_label, 1)},
        }
        write_json(tmp / "embedded.json", meta)

    build_once(final, version, build, force=force)
    log.info("embedded Quality-Net set ready in %.1f s: %s", time.time() - t0, final)
    return final
