"""Quality-Net training: manifests -> length-bucketed padded batches -> the shared loop.

One stage, trained by :func:`train` into the run directory itself::

    <run_dir>/train/config.json  ckpt/  best/  best.json  metrics.jsonl  records.json  tb/  state.json

(the same ``<run-dir>/<stage>/`` shape as every system)
             eval/  ablations/            (written by ``tfaudio-eval qualitynet``)

Data
----
A manifest (``path,score[,condition,speaker,...]``, see
:func:`tfaudio.systems.qualitynet.manifest.read_manifest`) is decoded once with
:func:`tfaudio.audio.load_audio` in a thread pool (resampled to the model's rate,
mono; longer clips cropped to ``data.max_seconds`` if set). A bad row (including a
score outside ``[0, max(5, model.q_max)]`` or a file listed twice with different
scores) or an unreadable / empty / NaN file or one shorter than one analysis frame
(``model.frame_length`` samples) stops with an error naming it, or with
``data.skip_bad`` is skipped and listed in a warning. Without a manifest the
embedded synthetic set is used (:func:`tfaudio.systems.qualitynet.data.ensure_embedded_quality_set`:
``train.csv`` / ``dev.csv``). With a manifest but no dev manifest, ``data.dev_fraction``
of the speakers (or utterances, when no speaker column) is held out as dev.

Variable-length batches
-----------------------
Utterances keep their length (no crop to a fixed size). Every epoch they are
shuffled (seeded by ``train.seed`` and the epoch), put into ``train.buckets`` length
buckets (boundaries at length quantiles), cut into batches of ``train.batch_size``
inside each bucket, and the batches are shuffled. A batch is zero padded to its
longest clip and carries ``length`` (valid samples per row): the model zeroes
anything past it, runs the backward LSTM from each row's last valid frame and
averages ``q_t`` over valid frames only, and :func:`quality_net_loss` only sees
valid frames, so padding never changes a score or the loss.

Objective and selection
-----------------------
Loss: the model module's :func:`tfaudio.systems.qualitynet.model.quality_net_loss`
(utterance MSE + ``10^(Q - q_max)`` x frame constraint; ``model.frame_constraint``
false gives Table 1's "without constraint"). RMSprop (Keras defaults, paper).
The best epoch is chosen by dev LCC (``train.monitor="dev_lcc"``, max) or dev MSE
(``"dev_mse"``, min); every epoch logs dev MSE, LCC and SRCC.

Regularisation for small sets
-----------------------------
All off by default (the paper's recipe); ``pipelines/qualitynet/small_real.json``
turns them on: ``model.lstm_dropout`` / ``model.lstm_recurrent_dropout`` (one mask
per sequence, as Keras' LSTM; training only) and ``model.dropout`` after each dense
layer, as in the authors' code; ``train.weight_decay`` (decoupled, RMSprop's
``weight_decay``, biases excluded); ``train.augment`` (random low-pass and low-level
white noise, :func:`augment_wave`), drawn from ``(seed, epoch, step, utterance)`` so
a resumed run repeats them.  Inference (eval, export, TFLite) never applies any of them.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tfaudio.config import ConfigError, to_dict
from tfaudio.data.pipeline import decode_files, graph_fn
from tfaudio.data.splits import assign_splits
from tfaudio.systems.qualitynet.manifest import MAX_SCORE, ManifestError, read_manifest
from tfaudio.evaluation.metrics import regression_metrics
from tfaudio.systems.qualitynet.config import (  # noqa: F401  (re-exported)
    MONITORS, QualityNetAugmentConfig, QualityNetConfig, QualityNetDataConfig, QualityNetRunConfig,
    QualityNetTrainConfig, config_from_dict, default_config, resolve_config, with_overrides,
)
from tfaudio.systems.qualitynet.model import QualityNet, quality_net_loss
from tfaudio.training import core

log = logging.getLogger(__name__)

SYSTEM = "qualitynet"
#: Shortest clip loaded for training / evaluation: one analysis frame of the default model.
MIN_SAMPLES = QualityNetConfig().frame_length


STAGE = "train"


def stage_dir(run_dir) -> Path:
    """Where a run's single stage lives: ``<run-dir>/train``."""
    return Path(run_dir) / STAGE


def load_run_config(run_dir) -> QualityNetRunConfig:
    """The resolved config a run directory was trained with."""
    path = stage_dir(run_dir) / "config.json"
    if not path.exists():
        raise core.RunDirError(f"{run_dir} holds no Quality-Net run (no config.json); train one first "
                          f"with `tfaudio-train qualitynet --run-dir {run_dir}`")
    d = json.loads(path.read_text())
    if d.get("system", SYSTEM) != SYSTEM:
        raise core.RunDirError(f"{run_dir} holds a '{d.get('system')}' run, not Quality-Net")
    return config_from_dict(d)


def _diff(a, b, prefix="") -> List[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]} ({a!r} -> {b!r})"]


def check_run_config(run_dir, cfg: QualityNetRunConfig, resume: bool) -> None:
    """A resumed run must use the config it started with (only ``train.epochs`` may grow)."""
    path = stage_dir(run_dir) / "config.json"
    if not (resume and path.exists()):
        return
    old = load_run_config(run_dir)
    a = to_dict(dataclasses.replace(old, train=dataclasses.replace(old.train, epochs=0)))
    b = to_dict(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=0)))
    changed = _diff(a, b)
    if changed:
        raise core.RunDirError(f"{run_dir} was started with another config; --resume keeps it "
                          f"(only --epochs may change). Differences: {'; '.join(changed)}")


# ==================================================================================
# Data
# ==================================================================================
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
def predict_fn(model):
    """The model's traced ``(waveform [B, T], lengths [B]) -> outputs`` (no retracing
    per shape; one per model, reused)."""
    return graph_fn(model, lambda waveform, lengths: model(waveform, lengths=lengths, training=False),
                    input_signature=[tf.TensorSpec([None, None], tf.float32),
                                     tf.TensorSpec([None], tf.int32)], name="predict")


def predict_dataset(fn, dataset, n: int):
    """Run ``fn`` over :func:`eval_dataset` batches -> (scores [n], frame scores per utterance)."""
    scores = np.full(n, np.nan, np.float32)
    frames: List[Optional[np.ndarray]] = [None] * n
    for batch in dataset:
        out = fn(batch["waveform"], batch["length"])
        s = out["score"].numpy()
        q = out["frame_scores"].numpy()
        m = out["frame_mask"].numpy() > 0
        for j, i in enumerate(batch["index"].numpy()):
            scores[i] = s[j]
            frames[i] = q[j][m[j]]
    return scores, frames


def predict(model, waves: Sequence[np.ndarray], batch_size: int = 16, fn=None):
    """Utterance scores and per-utterance frame scores (valid frames only), input order."""
    qset = QualitySet(list(waves), _dummy_rows(len(waves)))
    fn = fn or predict_fn(model)
    return predict_dataset(fn, eval_dataset(qset, batch_size), len(waves))


def _dummy_rows(n: int):
    return pd.DataFrame({"path": [""] * n, "score": np.zeros(n), "condition": ["unknown"] * n,
                         "speaker": [""] * n})


# ==================================================================================
# Task
# ==================================================================================
class QualityNetTask(core.Task):
    """RMSprop on :func:`quality_net_loss`; dev MSE / LCC / SRCC after every epoch."""

    def __init__(self, cfg: QualityNetRunConfig, dev_size: Optional[int] = None):
        self.cfg = resolve_config(cfg)
        self.monitor = self.cfg.train.monitor
        self.monitor_mode = MONITORS[self.monitor]
        self.dev_size = dev_size

    def build(self):
        self.model = QualityNet(self.cfg.model)
        self.model.build((None, None))
        wd = self.cfg.train.weight_decay
        self.optimizer = keras.optimizers.RMSprop(learning_rate=self.cfg.train.learning_rate,
                                                  weight_decay=wd if wd > 0 else None)
        if wd > 0:
            self.optimizer.exclude_from_weight_decay(var_names=["bias"])
        self.optimizer.build(self.model.trainable_variables)
        self._predict = predict_fn(self.model)

    def checkpoint_items(self):
        return {"model": self.model, "optimizer": self.optimizer}

    def best_items(self):
        return {"model": self.model}

    def train_step(self, batch):
        m = self.cfg.model
        with tf.GradientTape() as tape:
            out = self.model(batch["waveform"], lengths=batch["length"], training=True)
            terms = quality_net_loss(batch["score"], out["frame_scores"], out["frame_mask"],
                                     out["score"], q_max=m.q_max,
                                     frame_constraint=m.frame_constraint)
            scaled = core.replica_loss(terms["loss"])  # gradients are summed over replicas
        variables = self.model.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return dict(terms)

    def evaluate(self, dataset):
        n = self.dev_size
        if n is None:
            n = 1 + max(int(b["index"].numpy().max()) for b in dataset)
        true = np.full(n, np.nan, np.float32)
        for b in dataset:
            true[b["index"].numpy()] = b["score"].numpy()
        pred, _ = predict_dataset(self._predict, dataset, n)
        met = regression_metrics(true, pred)
        return {"dev_mse": met["mse"], "dev_lcc": met["lcc"], "dev_srcc": met["srcc"]}


# ==================================================================================
# Entry points
# ==================================================================================
def train(cfg: QualityNetRunConfig, run_dir, resume: bool = False, progress: bool = True,
          data: Optional[Tuple[QualitySet, QualitySet]] = None, say=print):
    """Train Quality-Net into ``run_dir`` (``resume=True`` continues after the last epoch).

    Returns :class:`tfaudio.training.core.FitResult`. ``data`` = (train, dev) sets
    skips loading (tests, ablations sharing decoded audio).
    """
    cfg = resolve_config(cfg)
    run_dir = Path(run_dir)
    check_run_config(run_dir, cfg, resume)
    stage = stage_dir(run_dir)
    if core.stage_complete(stage) and resume and core.stage_state(stage).get("epochs") == cfg.train.epochs:
        say(f"[qualitynet] {run_dir} is already trained for {cfg.train.epochs} epochs "
            f"(best {core.stage_state(stage).get('best')}); pass a larger --epochs to continue")
    if data is None:
        train_set, dev_set, used = load_train_dev(cfg, progress)
    else:
        train_set, dev_set = data
        used = {"train_utterances": len(train_set), "dev_utterances": len(dev_set)}
    if len(dev_set) < 3:
        raise ConfigError(f"the dev set holds {len(dev_set)} utterance(s); LCC/SRCC need at least 3")
    t = cfg.train
    say(f"[qualitynet] {len(train_set)} training / {len(dev_set)} dev utterances, "
        f"batch {t.batch_size} in {t.buckets} length bucket(s), {t.epochs} epochs -> {run_dir}")
    task = QualityNetTask(cfg, dev_size=len(dev_set))
    config = {"system": SYSTEM, **to_dict(cfg), "data_used": used}
    result = core.fit(
        task,
        train_batches(train_set, t.batch_size, t.buckets, t.seed, t.augment, cfg.model.sample_rate),
        eval_dataset(dev_set, t.eval_batch_size),
        stage,
        epochs=t.epochs,
        config=config,
        resume=resume,
        strategy=core.make_strategy(t.strategy),
        seed=t.seed,
        progress=progress,
    )
    say(f"[qualitynet] best {task.monitor} {result.best_metric:.4f} at epoch {result.best_epoch}")
    return result


def load_trained_model(run_dir):
    """(model with the best checkpoint's weights, resolved config) of a trained run."""
    cfg = load_run_config(run_dir)
    model = QualityNet(cfg.model)
    model.build((None, None))
    core.restore_best(stage_dir(run_dir), {"model": model})
    return model, cfg
