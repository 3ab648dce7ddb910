"""COLA data: unlabelled clips for pretraining, labelled tasks for the downstream runs.

Pretraining reads whole clips (a folder tree or CSV list decoded in a thread pool,
or ``tfaudio-prepare`` shards read with interleave); each training element is
``{"waveform": [samples], "length": []}``, batched with zero padding. The pairs are
*not* drawn here: the training step crops them with seeds from (run seed, epoch,
step), so every epoch draws new pairs and a resumed run draws the same ones.

Downstream tasks (:mod:`tfaudio.datasets.labeled_audio` layouts, or UrbanSound8K
through its own reader with one fold per run) give training elements
``{"waveform", "length", "label"}`` (one random segment is cropped per step) and,
for dev / test, every clip's non-overlapping segments as features, computed once
and cached.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfaudio.audio import AudioError
from tfaudio.config import to_dict
from tfaudio.data import pipeline, shards
from tfaudio.datasets import labeled_audio, urbansound8k
from tfaudio.datasets.audio_folder import list_audio
from tfaudio.datasets.recordings_embedded import ensure_embedded_classes, ensure_embedded_recordings
from tfaudio.errors import ConfigError, DatasetError
from tfaudio.systems.cola import model as M
from tfaudio.systems.cola.config import ColaConfig

log = logging.getLogger(__name__)

EMBEDDED_TASK = "embedded"


def ragged_dataset(waves: Sequence[np.ndarray], labels: Optional[Sequence[int]] = None) -> tf.data.Dataset:
    """``{"waveform": [samples], "length": [] (, "label": [])}`` per clip (the clips are
    held once, end to end, and sliced per element)."""
    lengths = np.array([len(w) for w in waves], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = tf.constant(np.concatenate(waves).astype(np.float32) if len(waves) else np.zeros(0, np.float32))
    parts = {"start": starts, "length": lengths}
    if labels is not None:
        parts["label"] = np.asarray(labels, np.int32)

    def element(e):
        out = {"waveform": flat[e["start"] : e["start"] + e["length"]], "length": e["length"]}
        if "label" in e:
            out["label"] = e["label"]
        return out

    return tf.data.Dataset.from_tensor_slices(parts).map(element)


def write_skipped(path: Path, skipped: Sequence[Tuple[str, str]]) -> None:
    from tfaudio.atomic import write_text

    write_text(path, "path\treason\n" + "".join(f"{p}\t{r}\n" for p, r in skipped))


# ----------------------------------------------------------------------------------
# Pretraining
# ----------------------------------------------------------------------------------
@dataclass
class PretrainData:
    """Unlabelled clips: ``train`` (a dataset of whole clips) and a fixed dev set of pairs."""

    source: str
    train: tf.data.Dataset
    num_train: Optional[int]
    dev_anchor: np.ndarray  # [n, frames, mels]
    dev_positive: np.ndarray
    skipped: List[Tuple[str, str]] = field(default_factory=list)


def pretrain_source(cfg: ColaConfig) -> str:
    if cfg.data.data_dir:
        return cfg.data.data_dir
    return str(ensure_embedded_recordings(cfg.data.embedded_clips, cfg.data.embedded_seed, cfg.frontend.sample_rate))


def dev_pairs(waves: Sequence[np.ndarray], cfg: ColaConfig, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Features of one fixed (anchor, positive) pair per dev clip."""
    fe = cfg.frontend
    seg = M.segment_samples(fe)
    frontend = M.make_frontend(fe)
    batch = np.zeros((len(waves), max([seg] + [len(w) for w in waves])), np.float32)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    lengths = tf.constant([len(w) for w in waves], tf.int32)
    first, second = M.pair_offsets(lengths, seg, tf.constant([seed, 999_983], tf.int64))
    a = pipeline.compute_features(frontend, M.crop(batch, first, seg).numpy())
    p = pipeline.compute_features(frontend, M.crop(batch, second, seg).numpy())
    return a, p


def load_pretrain(cfg: ColaConfig, progress: bool = True, skip_bad: bool = False) -> PretrainData:
    """The pretraining clips; a bad file is an error naming it, or with ``skip_bad``
    a listed skip (in ``skipped``)."""
    source = pretrain_source(cfg)
    fe = cfg.frontend
    max_samples = int(round(cfg.data.max_seconds * fe.sample_rate))
    if shards.is_shard_dir(source):
        manifest = shards.read_manifest(source)
        n = int(manifest["examples"])
        n_dev = min(256, max(2, n // 20))
        if n - n_dev < 2:
            raise DatasetError(f"{source}: {n} clip(s); pretraining needs at least {n_dev + 2}")
        full = shards.read_shards(source, sample_rate=fe.sample_rate).map(
            lambda e: e["waveform"][:max_samples])
        dev = [w.numpy() for w in full.take(n_dev)]
        train = full.skip(n_dev).map(lambda w: {"waveform": w, "length": tf.shape(w, out_type=tf.int64)[0]})
        a, p = dev_pairs(dev, cfg, cfg.train.seed)
        skipped = [(s["path"], s["reason"]) for s in manifest["skipped"]]
        return PretrainData(source, train, n - n_dev, a, p, skipped)
    paths, _ = list_audio(source)
    waves, skipped = pipeline.decode_files(paths, fe.sample_rate, skip_bad=skip_bad, max_seconds=cfg.data.max_seconds,
                                           progress=progress, desc="decode")
    kept = [w for w in waves if w is not None]
    if len(kept) < 4:
        raise DatasetError(f"{source}: {len(kept)} readable clip(s); pretraining needs at least 4")
    dev_idx = set(range(0, len(kept), 20)) if len(kept) >= 40 else {0, 1}
    dev = [kept[i] for i in sorted(dev_idx)]
    train = [w for i, w in enumerate(kept) if i not in dev_idx]
    a, p = dev_pairs(dev, cfg, cfg.train.seed)
    return PretrainData(source, ragged_dataset(train), len(train), a, p, skipped)


# ----------------------------------------------------------------------------------
# Downstream tasks
# ----------------------------------------------------------------------------------
def task_name(task: Optional[str]) -> str:
    if not task:
        return EMBEDDED_TASK
    name = Path(task).stem if Path(task).is_file() else Path(task).resolve().name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "task"


def is_urbansound8k(task: Optional[str]) -> bool:
    return bool(task) and (Path(task) / "metadata" / "UrbanSound8K.csv").is_file()


def fold_names(task: Optional[str], folds: Optional[str]) -> List[Optional[str]]:
    """``[None]`` for a task with fixed splits; ``cv1..cv10`` (or one) for UrbanSound8K."""
    if not is_urbansound8k(task):
        if folds:
            raise ConfigError(f"--folds {folds}: only for UrbanSound8K (a folder with metadata/UrbanSound8K.csv)")
        return [None]
    folds = folds or "cv"
    if folds == "cv":
        return [f"cv{k}" for k in urbansound8k.FOLDS]
    urbansound8k.split_folds(folds)  # validates
    if not folds.startswith("cv"):
        raise ConfigError(f"--folds {folds}: use cv (all ten folds) or cv1 ... cv10")
    return [folds]


def load_labeled(cfg: ColaConfig, fold: Optional[str] = None) -> labeled_audio.LabeledTask:
    d = cfg.downstream
    if not d.task:
        root = ensure_embedded_classes(d.embedded_train_per_class, d.embedded_test_per_class, d.seed,
                                       cfg.frontend.sample_rate, d.embedded_seconds)
        task = labeled_audio.load_task(root, d.dev_fraction)
        task.name = EMBEDDED_TASK
        return task
    if is_urbansound8k(d.task):
        meta = urbansound8k.read_metadata(d.task)
        classes = urbansound8k.class_vocabulary(meta, where=str(d.task))
        parts = urbansound8k.split_frame(meta, fold or "cv1", d.task)
        splits = {k: v.assign(name=v["class"])[["path", "name", "label"]] for k, v in parts.items()}
        return labeled_audio.LabeledTask(task_name(d.task), "urbansound8k", list(classes), splits)
    return labeled_audio.load_task(d.task, d.dev_fraction)


@dataclass
class Segmented:
    """Every clip of a split cut into non-overlapping segments."""

    features: np.ndarray  # [segments, frames, mels]
    clip_index: np.ndarray  # [segments] -> clip
    labels: np.ndarray  # [clips]
    paths: List[str]
    # [clips, 2, mels]: two pseudo-frames m + s, m - s per clip, whose mean and std over
    # time are the clip's own per-band mean m and std s (what the baseline row reads)
    stats_frames: np.ndarray

    @property
    def num_clips(self) -> int:
        return len(self.labels)


class DownstreamData:
    """A downstream task's splits. A bad file is an error naming it (and
    ``--skip-bad-files``), or with ``skip_bad`` a skip listed in ``skipped``."""

    def __init__(self, cfg: ColaConfig, fold: Optional[str] = None, progress: bool = True, skip_bad: bool = False):
        self.cfg, self.progress, self.skip_bad = cfg, progress, skip_bad
        self.task = load_labeled(cfg, fold)
        self.classes = self.task.classes
        self.skipped: List[Tuple[str, str]] = []
        self._waves: Dict[str, Tuple[List[np.ndarray], np.ndarray, List[str]]] = {}

    def waves(self, split: str) -> Tuple[List[np.ndarray], np.ndarray, List[str]]:
        """Decoded clips of a split and their labels (bad files: see the class)."""
        if split not in self._waves:
            df = self.task.splits[split]
            fe = self.cfg.frontend
            waves, skipped = pipeline.decode_files(df["path"].tolist(), fe.sample_rate, skip_bad=self.skip_bad,
                                                   max_seconds=self.cfg.downstream.max_seconds,
                                                   progress=self.progress, desc=f"decode {split}")
            self.skipped += skipped
            keep = [i for i, w in enumerate(waves) if w is not None]
            if not keep:
                raise DatasetError(f"{self.task.name}: no readable clip in the {split} split")
            paths = df["path"].tolist()
            self._waves[split] = ([waves[i] for i in keep], df["label"].to_numpy()[keep].astype(np.int32),
                                  [paths[i] for i in keep])
        return self._waves[split]

    def train_dataset(self) -> tf.data.Dataset:
        waves, labels, _ = self.waves("train")
        return ragged_dataset(waves, labels)

    def segmented(self, split: str) -> Segmented:
        """Segment features of a split, cached on disk by (files, front-end)."""
        df = self.task.splits[split]
        fe = self.cfg.frontend
        key = pipeline.cache_key(kind="cola-segments", files=pipeline.file_fingerprint(df["path"]),
                                 labels=df["label"].tolist(), frontend=to_dict(fe),
                                 max_seconds=self.cfg.downstream.max_seconds)

        def build():
            waves, labels, paths = self.waves(split)
            frontend = M.make_frontend(fe)
            seg = M.segment_samples(fe)
            feats, index, stats = [], [], []
            for i, w in enumerate(waves):
                x = np.pad(w, (0, max(0, seg - len(w))))[None]
                f = pipeline.compute_features(frontend, x)[0]
                n = f.shape[0] // fe.segment_frames
                feats.append(f[: n * fe.segment_frames].reshape(n, fe.segment_frames, -1))
                index += [i] * n
                m, s = f.mean(axis=0), f.std(axis=0)
                stats.append(np.stack([m + s, m - s]))
            return {"features": np.concatenate(feats).astype(np.float32), "clip_index": np.array(index, np.int64),
                    "labels": labels, "paths": np.array(paths, dtype=str),
                    "stats_frames": np.stack(stats).astype(np.float32),
                    **pipeline.skipped_arrays([s for s in self.skipped if s[0] in set(df["path"])])}

        a = pipeline.cached(key, build)
        got = pipeline.skipped_of(a)
        if got and not self.skip_bad:  # built with skips earlier; this run asked for none
            p, r = got[0]
            raise AudioError(p, f"{r} (pass --skip-bad-files to skip it)")
        for p, r in got:
            if (p, r) not in self.skipped:
                self.skipped.append((p, r))
        return Segmented(a["features"], a["clip_index"], a["labels"], a["paths"].tolist(), a["stats_frames"])


def describe(task: labeled_audio.LabeledTask) -> str:
    s = task.sizes()
    return (f"{task.name} ({task.layout}): {len(task.classes)} classes; train {s['train']}, dev {s['dev']}, "
            f"test {s['test']} clips")
