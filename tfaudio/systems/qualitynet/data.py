"""Quality-Net's embedded default data: synthetic TIMIT-layout speech and noises
(:mod:`tfaudio.datasets.timit_embedded`) labelled with PESQ by the quality-set builder
(:mod:`tfaudio.systems.qualitynet.quality_set`), built once in the cache.

Also the training input: a manifest decoded into a :class:`QualitySet`, split into
train / dev by speaker, and turned into length-bucketed, zero-padded tf.data batches
(with the seeded augmentation) or evaluation batches.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import tensorflow as tf

from tfaudio.atomic import write_json
from tfaudio.config import ConfigError
from tfaudio.data.pipeline import decode_files
from tfaudio.data.splits import assign_splits
from tfaudio.datasets.noise import write_noise_folder
from tfaudio.datasets.timit_embedded import GENERATOR_VERSION, NOISE_NAMES, write_timit_tree
from tfaudio.systems.qualitynet.config import (QualityNetAugmentConfig, QualityNetConfig,
                                              QualityNetRunConfig)
from tfaudio.systems.qualitynet.manifest import MAX_SCORE, ManifestError, read_manifest

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


# ==================================================================================
# The training input
# ==================================================================================
#: Shortest clip loaded for training / evaluation: one analysis frame of the default model.
MIN_SAMPLES = QualityNetConfig().frame_length


@dataclass
class QualitySet:
    """Decoded utterances of one manifest (in manifest order, bad rows removed)."""

    waves: List[np.ndarray]
    rows: pd.DataFrame  # path, score, condition, speaker, ... (read_manifest columns)
    skipped: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason)
    name: str = ""

    @property
    def scores(self) -> np.ndarray:
        return self.rows["score"].to_numpy(np.float32)

    @property
    def conditions(self) -> np.ndarray:
        return self.rows["condition"].astype(str).to_numpy()

    @property
    def paths(self) -> List[str]:
        return list(self.rows["path"])

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(w) for w in self.waves], np.int64)

    def __len__(self) -> int:
        return len(self.waves)

    def subset(self, index: Sequence[int], name: str = "") -> "QualitySet":
        index = list(index)
        return QualitySet([self.waves[i] for i in index], self.rows.iloc[index].reset_index(drop=True),
                          [], name or self.name)


def decode_waves(paths: Sequence[str], sample_rate: int, skip_bad: bool = False,
                 max_seconds: Optional[float] = None, workers: Optional[int] = None,
                 progress: bool = True, desc: str = "decode",
                 min_samples: int = MIN_SAMPLES):
    """Variable-length decode (see :func:`tfaudio.data.pipeline.decode_files`); a clip
    shorter than ``min_samples`` (one analysis frame) is a bad file."""
    return decode_files(paths, sample_rate, skip_bad, max_seconds, workers, progress, desc,
                        skip_flag="--skip-bad-files", min_samples=min_samples)


def score_range_max(model_cfg: QualityNetConfig) -> float:
    """Largest manifest score accepted for a model: 5 (PESQ, MOS) or ``q_max`` if larger."""
    return max(MAX_SCORE, float(model_cfg.q_max))


def load_quality_set(manifest, sample_rate: int = 16000, skip_bad: bool = False,
                     max_seconds: Optional[float] = None, workers: Optional[int] = None,
                     progress: bool = True, name: str = "", max_score: float = MAX_SCORE,
                     min_samples: int = MIN_SAMPLES) -> QualitySet:
    """Read a manifest and decode its audio (see module docstring for bad rows/files).

    Scores outside ``[0, max_score]`` are bad rows; clips shorter than
    ``min_samples`` (default: one 512-sample frame) are bad files."""
    rows = read_manifest(manifest, skip_bad=skip_bad, max_score=max_score)
    waves, skipped = decode_waves(rows["path"].tolist(), sample_rate, skip_bad, max_seconds,
                                  workers, progress, desc=f"decode {name or Path(manifest).name}",
                                  min_samples=min_samples)
    keep = [i for i, w in enumerate(waves) if w is not None]
    if not keep:
        raise ManifestError(manifest, [(None, None, "no usable utterance left")])
    rows = rows.iloc[keep].reset_index(drop=True)
    return QualitySet([waves[i] for i in keep], rows, skipped, name or Path(manifest).stem)


def embedded_manifests(progress: bool = True) -> Dict[str, Path]:
    """``{"train", "dev", "test"}`` manifests of the embedded set (built on first use)."""
    from tfaudio.systems.qualitynet.data import ensure_embedded_quality_set

    root = ensure_embedded_quality_set(progress=progress)
    return {s: root / f"{s}.csv" for s in ("train", "dev", "test")}


def split_dev(qset: QualitySet, fraction: float, seed: int) -> Tuple[QualitySet, QualitySet]:
    """Hold out ``fraction`` of the speakers (utterances if no speaker column) as dev."""
    rows = qset.rows
    groups = [s if s else f"utt{i}" for i, s in enumerate(rows["speaker"].astype(str))]
    unique = sorted(set(groups))
    if len(unique) < 2:
        raise ConfigError(f"{qset.name}: cannot hold out a dev set from {len(unique)} group(s); "
                          f"give a dev manifest")
    side = assign_splits(groups, (1.0 - fraction, fraction), seed=seed, names=("train", "dev"))
    dev = [i for i, g in enumerate(groups) if side[g] == "dev"]
    train = [i for i, g in enumerate(groups) if side[g] == "train"]
    return qset.subset(train, "train"), qset.subset(dev, "dev")


def load_train_dev(cfg: QualityNetRunConfig, progress: bool = True) -> Tuple[QualitySet, QualitySet, dict]:
    """Training and dev sets of a config, and the manifests actually used."""
    d = cfg.data
    sr = cfg.model.sample_rate
    kw = dict(sample_rate=sr, skip_bad=d.skip_bad, max_seconds=d.max_seconds, workers=d.workers,
              progress=progress, max_score=score_range_max(cfg.model),
              min_samples=cfg.model.frame_length)
    if d.manifest is None:
        if d.dev_manifest is not None:
            raise ConfigError("data.dev_manifest needs data.manifest (the training manifest)")
        emb = embedded_manifests(progress)
        train = load_quality_set(emb["train"], name="train", **kw)
        dev = load_quality_set(emb["dev"], name="dev", **kw)
        used = {"train": str(emb["train"]), "dev": str(emb["dev"]), "embedded": True}
    else:
        train = load_quality_set(d.manifest, name="train", **kw)
        if d.dev_manifest is not None:
            dev = load_quality_set(d.dev_manifest, name="dev", **kw)
            used = {"train": str(d.manifest), "dev": str(d.dev_manifest)}
        else:
            train, dev = split_dev(train, d.dev_fraction, cfg.train.seed)
            log.info("no dev manifest: held out %d of %d utterances (%.0f %% of speakers) as dev",
                     len(dev), len(dev) + len(train), 100 * d.dev_fraction)
            used = {"train": str(d.manifest), "dev": f"{d.dev_fraction:g} of the speakers of the train manifest"}
    used["train_utterances"], used["dev_utterances"] = len(train), len(dev)
    return train, dev, used


def bucket_batches(lengths: Sequence[int], batch_size: int, buckets: int = 1,
                   rng: Optional[np.random.Generator] = None) -> List[np.ndarray]:
    """Index batches that group utterances of similar length.

    With ``rng`` (training): shuffle, split into ``buckets`` groups at the length
    quantiles, cut each group into batches, shuffle the batches. Without ``rng``
    (evaluation): sort by length and cut, the least padding possible.
    """
    lengths = np.asarray(lengths)
    n = len(lengths)
    if n == 0:
        return []
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    order = rng.permutation(n)
    buckets = max(1, min(int(buckets), n))
    # rank by length (ties broken by the random order), then equal-count buckets
    ranked = order[np.argsort(lengths[order], kind="stable")]
    batches = []
    for group in np.array_split(ranked, buckets):
        group = rng.permutation(group)
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def pad_batch(waves: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Right-pad with zeros -> (``[B, max_len]`` float32, lengths ``[B]`` int32)."""
    lengths = np.array([len(w) for w in waves], np.int32)
    out = np.zeros((len(waves), max(int(lengths.max()), 1)), np.float32)
    for i, w in enumerate(waves):
        out[i, : len(w)] = w
    return out, lengths


def batches_dataset(qset: QualitySet, batches: List[np.ndarray],
                    transform: Optional[Callable[[int, List[np.ndarray]], List[np.ndarray]]] = None):
    """``tf.data`` of padded batches ``{"waveform", "length", "score", "index"}``.

    ``transform(step, waves) -> waves`` (same lengths) is applied to each batch's
    utterances before padding (training augmentation).
    """
    scores = qset.scores

    def gen():
        for step, idx in enumerate(batches):
            waves = [qset.waves[i] for i in idx]
            if transform is not None:
                waves = transform(step, waves)
            wave, lengths = pad_batch(waves)
            yield {"waveform": wave, "length": lengths, "score": scores[idx],
                   "index": np.asarray(idx, np.int32)}

    # A batch size every batch has is declared (batch 1 of the paper recipe: [1, None]):
    # the training loop compiles its step for this spec, once, and a static batch axis
    # halves that compile time (benchmarks/quality_trace.py).
    sizes = {len(idx) for idx in batches}
    b = sizes.pop() if len(sizes) == 1 else None
    spec = {
        "waveform": tf.TensorSpec([b, None], tf.float32),
        "length": tf.TensorSpec([b], tf.int32),
        "score": tf.TensorSpec([b], tf.float32),
        "index": tf.TensorSpec([b], tf.int32),
    }
    ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
    return ds.apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2)


#: Stream id that keeps augmentation draws apart from the batch-order draws.
_AUGMENT_STREAM = 1


def augment_active(aug: Optional[QualityNetAugmentConfig]) -> bool:
    return aug is not None and (aug.lowpass_prob > 0 or aug.noise_prob > 0)


def augment_wave(wave: np.ndarray, aug: QualityNetAugmentConfig, rng: np.random.Generator,
                 sample_rate: int = 16000) -> np.ndarray:
    """One utterance through the configured augmentation (a new float32 array).

    With probability ``lowpass_prob``: an 8th-order Butterworth low-pass at a cut-off
    drawn uniformly from ``lowpass_hz`` (nothing at or above 0.98 x Nyquist); then
    with probability ``noise_prob``: white Gaussian noise with an RMS of ``peak *
    10^(L / 20)``, ``L`` drawn uniformly from ``noise_db``.  The same four uniform
    draws are made whatever is enabled, so a draw depends only on ``rng``.
    """
    from scipy import signal

    u_lp, u_fc, u_noise, u_level = rng.random(4)
    x = np.asarray(wave, np.float32)
    if u_lp < aug.lowpass_prob:
        lo, hi = (float(v) for v in aug.lowpass_hz)
        fc = lo + (hi - lo) * u_fc
        if fc < 0.98 * sample_rate / 2:
            sos = signal.butter(8, fc, btype="low", fs=sample_rate, output="sos")
            x = signal.sosfilt(sos, x).astype(np.float32)
    if u_noise < aug.noise_prob:
        lo, hi = (float(v) for v in aug.noise_db)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        level = peak * 10.0 ** ((lo + (hi - lo) * u_level) / 20.0)
        x = (x + level * rng.standard_normal(x.shape[0])).astype(np.float32)
    return np.array(x, np.float32, copy=True)


def augment_batch_fn(aug: Optional[QualityNetAugmentConfig], seed: int, epoch: int,
                     sample_rate: int = 16000):
    """``(step, waves) -> waves`` for :func:`batches_dataset`, or None when nothing is
    enabled.  Utterance ``j`` of batch ``step`` uses the generator seeded with
    ``(seed, epoch, step, j)``, so a resumed run sees the same augmented data."""
    if not augment_active(aug):
        return None

    def transform(step: int, waves: List[np.ndarray]) -> List[np.ndarray]:
        return [augment_wave(w, aug, np.random.default_rng(
                    [int(seed), int(epoch), int(step), j, _AUGMENT_STREAM]), sample_rate)
                for j, w in enumerate(waves)]

    return transform


def train_batches(qset: QualitySet, batch_size: int, buckets: int, seed: int,
                  augment: Optional[QualityNetAugmentConfig] = None,
                  sample_rate: int = 16000) -> Callable[[int], object]:
    """``epoch -> dataset``: the epoch's bucketed, shuffled (and, with ``augment``,
    augmented) batches, identical on resume."""
    lengths = qset.lengths

    def make(epoch: int):
        rng = np.random.default_rng([int(seed), int(epoch)])
        return batches_dataset(qset, bucket_batches(lengths, batch_size, buckets, rng),
                               augment_batch_fn(augment, seed, epoch, sample_rate))

    return make


def eval_dataset(qset: QualitySet, batch_size: int):
    """Length-sorted padded batches (deterministic), each with its ``index``."""
    return batches_dataset(qset, bucket_batches(qset.lengths, batch_size))


# ==================================================================================
# Prediction
# ==================================================================================


def _dummy_rows(n: int):
    return pd.DataFrame({"path": [""] * n, "score": np.zeros(n), "condition": ["unknown"] * n,
                         "speaker": [""] * n})
