"""SED data: DCASE clips -> log-mel features, frame / clip targets with loss masks, tf.data.

Every training example carries the same fields, so one batch can mix the sets:

================  ===============  ===========================================
field             shape            meaning
================  ===============  ===========================================
features          [frames, mels]   log-mel (float16 in memory, float32 in the batch)
frame_target      [frames', K]     strong labels at the model's output frame rate
frame_mask        [frames', K]     1 where ``frame_target`` is a label (S; pseudo labels)
clip_target       [K]              weak labels (S: derived from its events)
clip_mask         [K]              1 where ``clip_target`` is a label (S, W; pseudo labels)
domain            []               0 synthetic, 1 real
================  ===============  ===========================================

so each loss term sees only the samples that carry its kind of label (U has all
masks 0 until it is pseudo-labelled).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfaudio.config import to_dict
from tfaudio.data import pipeline
from tfaudio.datasets import dcase
from tfaudio.datasets.dcase_embedded import ensure_embedded_dcase
from tfaudio.systems.sed import model as M
from tfaudio.systems.sed.config import SEDConfig

log = logging.getLogger(__name__)

FIELDS = ("features", "frame_target", "frame_mask", "clip_target", "clip_mask", "domain")


def dataset_root(cfg: SEDConfig, progress: bool = True) -> Path:
    if cfg.data.data_dir:
        return Path(cfg.data.data_dir)
    s = cfg.data.embedded_sizes
    return ensure_embedded_dcase(*s[:4], seed=cfg.data.seed, sr=cfg.data.embedded_rate,
                                 seconds=cfg.data.clip_seconds, progress=progress)


def frame_targets(events: Sequence[dcase.Event], classes: Sequence[str], n_frames: int, hop: float) -> np.ndarray:
    """``[n_frames, K]``: frame j is active for an event when its centre ``(j + 0.5) * hop``
    lies in ``[onset, offset)``."""
    out = np.zeros((n_frames, len(classes)), np.float32)
    index = {c: i for i, c in enumerate(classes)}
    centres = (np.arange(n_frames) + 0.5) * hop
    for onset, offset, label in events:
        out[(centres >= onset) & (centres < offset), index[label]] = 1.0
    return out


def clip_targets(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    out = np.zeros(len(classes), np.float32)
    for lab in labels:
        out[list(classes).index(lab)] = 1.0
    return out


def pseudo_labels(p1: np.ndarray, p2: np.ndarray, threshold: float = 0.5, margin: float = 0.0):
    """The agreement rule: a label where both labelers are confident (at least
    ``margin`` from ``threshold``) and agree on the side of it. Returns
    ``(labels, mask)`` of ``p1``'s shape, float32."""
    p1, p2 = np.asarray(p1), np.asarray(p2)
    on1, on2 = p1 > threshold, p2 > threshold
    confident = (np.abs(p1 - threshold) >= margin) & (np.abs(p2 - threshold) >= margin)
    mask = (on1 == on2) & confident
    return (on1 & mask).astype(np.float32), mask.astype(np.float32)


@dataclass
class Part:
    """Arrays of one set of clips (features, targets, masks, domain) + names."""

    name: str
    files: List[str]
    arrays: Dict[str, np.ndarray]
    events: Dict[str, list] = field(default_factory=dict)

    def __len__(self):
        return len(self.files)

    def subset(self, idx, name: str) -> "Part":
        idx = np.asarray(idx, np.int64)
        return Part(name, [self.files[i] for i in idx], {k: v[idx] for k, v in self.arrays.items()},
                    {self.files[i]: self.events.get(self.files[i], []) for i in idx})


class SEDData:
    """Features and targets of every DCASE subset, computed once and cached."""

    def __init__(self, cfg: SEDConfig, progress: bool = True):
        self.cfg = cfg
        self.progress = progress
        self.root = dataset_root(cfg, progress)
        fe = cfg.frontend
        self.frontend = M.make_frontend(fe)
        self.num_samples = int(round(cfg.data.clip_seconds * fe.sample_rate))
        self.num_frames = self.frontend.num_frames(self.num_samples)
        self.mels = fe.num_mel_bins
        self.out_frames = M.output_frames(self.num_frames, cfg.model)
        self.hop = fe.frame_step * M.time_pool(cfg.model) / fe.sample_rate
        # strong labels checked against each clip's length (an end inside the last output
        # frame is clamped); an evaluation label no training clip has is refused
        self.ds = dcase.load_dcase(self.root, skip_bad=cfg.data.skip_bad_files, clip_seconds=cfg.data.clip_seconds,
                                   frame_seconds=self.hop, trained_labels_only=True)
        self.classes = list(self.ds.classes)
        if len(self.classes) != cfg.model.num_classes:
            log.info("%d classes in the metadata (model.num_classes %d is set from them)",
                     len(self.classes), cfg.model.num_classes)
        self.skipped: List[Tuple[str, str]] = list(self.ds.skipped)
        self._parts: Dict[str, Part] = {}

    # -- features --------------------------------------------------------------------
    def _features(self, subset: dcase.Subset) -> Tuple[np.ndarray, np.ndarray]:
        """(features float16 [N, frames, mels], kept indices). An unreadable, empty or
        non-audio file is an :class:`AudioError` naming it, or with ``data.skip_bad_files``
        a listed skip."""
        key = pipeline.cache_key(files=pipeline.file_fingerprint([str(p) for p in subset.paths]),
                                 frontend=to_dict(self.cfg.frontend), seconds=self.cfg.data.clip_seconds,
                                 skip_bad=self.cfg.data.skip_bad_files, v=2)

        def build():
            feats, kept, skipped = [], [], []
            paths = [str(p) for p in subset.paths]
            chunk = 128
            bar = tqdm(total=len(paths), desc=f"features {subset.name}", disable=not self.progress, leave=False)
            for i in range(0, len(paths), chunk):
                dec = pipeline.decode_clips(paths[i : i + chunk], self.cfg.frontend.sample_rate, self.num_samples,
                                            skip_bad=self.cfg.data.skip_bad_files, progress=False)
                skipped += dec.skipped
                if len(dec.kept):
                    fn = pipeline.graph_fn(self.frontend, lambda x: M.log_mel(self.frontend, x, self.cfg.frontend.input_gain))
                    feats.append(np.concatenate([fn(tf.constant(dec.waves[j : j + 32])).numpy()
                                                 for j in range(0, len(dec.waves), 32)]).astype(np.float16))
                    kept.append(dec.kept + i)
                bar.update(len(paths[i : i + chunk]))
            bar.close()
            empty = np.zeros((0, self.num_frames, self.mels), np.float16)
            return {"features": np.concatenate(feats) if feats else empty,
                    "kept": np.concatenate(kept) if kept else np.zeros(0, np.int64),
                    **pipeline.skipped_arrays(skipped)}

        out = pipeline.cached(key, build, self.cfg.data.cache_features)  # (lists the skips again on a load)
        for path, reason in pipeline.skipped_of(out):
            if (path, reason) not in self.skipped:
                self.skipped.append((path, reason))
        return out["features"], out["kept"]

    def part(self, subset: str) -> Part:
        """All present, readable clips of a DCASE subset with targets and masks."""
        if subset in self._parts:
            return self._parts[subset]
        sub = self.ds.subsets[subset]
        feats, kept = self._features(sub)
        files = [sub.files[i] for i in kept]
        n, K = len(files), len(self.classes)
        frame_t = np.zeros((n, self.out_frames, K), np.float32)
        frame_m = np.zeros_like(frame_t)
        clip_t = np.zeros((n, K), np.float32)
        clip_m = np.zeros_like(clip_t)
        for i, f in enumerate(files):
            if sub.kind == "strong":
                frame_t[i] = frame_targets(sub.events[f], self.classes, self.out_frames, self.hop)
                frame_m[i] = 1.0
            if sub.kind in ("strong", "weak"):
                clip_t[i] = clip_targets(sub.labels[f], self.classes)
                clip_m[i] = 1.0
        domain = np.full(n, 0.0 if subset == "synthetic" else 1.0, np.float32)
        arrays = dict(features=feats, frame_target=frame_t, frame_mask=frame_m, clip_target=clip_t,
                      clip_mask=clip_m, domain=domain)
        self._parts[subset] = Part(subset, files, arrays, {f: sub.events.get(f, []) for f in files})
        return self._parts[subset]

    def _split(self, subset: str, fraction: float) -> Tuple[Part, Part]:
        p = self.part(subset)
        rng = np.random.default_rng([self.cfg.data.seed, len(subset)])
        order = rng.permutation(len(p))
        n_dev = int(round(fraction * len(p))) if fraction > 0 else 0
        n_dev = min(max(n_dev, 1 if fraction > 0 and len(p) > 1 else 0), len(p) - 1)
        return p.subset(np.sort(order[n_dev:]), subset), p.subset(np.sort(order[:n_dev]), f"{subset}_dev")

    def sets(self) -> Dict[str, Part]:
        """``S`` (synthetic train), ``W`` (weak train), ``U``, ``dev`` (weak held out),
        ``synthetic_dev`` (strong synthetic held out), ``validation``."""
        S, S_dev = self._split("synthetic", self.cfg.data.synthetic_dev_fraction)
        W, W_dev = self._split("weak", self.cfg.data.dev_fraction)
        return {"S": S, "W": W, "U": self.part("unlabeled"), "dev": W_dev, "synthetic_dev": S_dev,
                "validation": self.part("validation")}

    def band_stats(self, parts: Sequence[Part]) -> Tuple[np.ndarray, np.ndarray]:
        """Per-band mean / std over every frame of the training clips."""
        total = np.zeros(self.mels, np.float64)
        sq = np.zeros(self.mels, np.float64)
        count = 0
        for p in parts:
            x = p.arrays["features"].astype(np.float64)
            total += x.sum((0, 1))
            sq += (x**2).sum((0, 1))
            count += x.shape[0] * x.shape[1]
        mean = total / max(count, 1)
        return mean, np.sqrt(np.maximum(sq / max(count, 1) - mean**2, 0.0))


def half_bits_to_float32(bits: tf.Tensor) -> tf.Tensor:
    """IEEE float16 values given as their uint16 bit patterns -> float32, exactly, with
    integer ops only. The features stay float16 in memory (half the size), but no
    float16 tensor enters a TensorFlow graph: oneDNN handles DT_HALF only on CPUs with
    AVX-512 and logs an error for every graph that holds one elsewhere."""
    h = tf.cast(bits, tf.int32)
    exponent = tf.bitwise.bitwise_and(h, 0x7C00)
    mantissa = tf.bitwise.bitwise_and(h, 0x03FF)
    negative = tf.bitwise.bitwise_and(h, 0x8000) > 0
    # normal numbers: rebias the exponent (127 - 15 = 112, i.e. 0x1C000 above the mantissa)
    normal = tf.bitwise.left_shift(tf.bitwise.bitwise_and(h, 0x7FFF) + 0x1C000, 13)
    special = tf.bitwise.bitwise_or(tf.constant(0x7F800000, tf.int32), tf.bitwise.left_shift(mantissa, 13))
    magnitude = tf.bitcast(tf.where(exponent == 0x7C00, special, normal), tf.float32)  # inf / nan kept
    magnitude = tf.where(exponent == 0, tf.cast(mantissa, tf.float32) * 2.0**-24, magnitude)  # zero, subnormal
    return tf.where(negative, -magnitude, magnitude)


def _tensors(part: Part) -> tf.data.Dataset:
    a = part.arrays
    feats = a["features"]
    ds = tf.data.Dataset.from_tensor_slices({**{k: a[k] for k in FIELDS if k != "features"},
                                             "features": np.ascontiguousarray(feats, np.float16).view(np.uint16)})
    return ds.map(lambda d: {**d, "features": half_bits_to_float32(d["features"])})


def mixed_batches(parts: Sequence[Part], weights: Sequence[float], batch_size: int, seed: int):
    """``epoch -> dataset`` of batches drawn from ``parts`` with the given shares;
    every draw is a function of (seed, epoch) only."""
    kept = [(p, w) for p, w in zip(parts, weights) if len(p) and w > 0]
    parts = [p for p, _ in kept]
    weights = np.asarray([w for _, w in kept], np.float64)
    weights = (weights / weights.sum()).tolist()
    sources = [_tensors(p) for p in parts]

    def make(epoch: int) -> tf.data.Dataset:
        s = seed * 100003 + epoch
        streams = [src.shuffle(max(len(p), 1), seed=s + 17 * i, reshuffle_each_iteration=True).repeat()
                   for i, (src, p) in enumerate(zip(sources, parts))]
        mixed = tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=s)
        return mixed.batch(batch_size, drop_remainder=True).prefetch(2)

    return make


def eval_batches(part: Part, batch_size: int) -> tf.data.Dataset:
    return _tensors(part).batch(batch_size)
