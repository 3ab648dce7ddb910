"""Quality-Net training: manifests -> length-bucketed padded batches (:mod:`.data`) -> the shared loop.

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
white noise, :func:`tfaudio.systems.qualitynet.data.augment_wave`), drawn from ``(seed, epoch, step, utterance)`` so
a resumed run repeats them.  Inference (eval, export, TFLite) never applies any of them.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfaudio.config import ConfigError, to_dict
from tfaudio.evaluation.metrics import regression_metrics
from tfaudio.systems.qualitynet.config import (  # noqa: F401  (re-exported)
    MONITORS, QualityNetAugmentConfig, QualityNetConfig, QualityNetDataConfig, QualityNetRunConfig,
    QualityNetTrainConfig, config_from_dict, default_config, resolve_config, with_overrides,
)
from tfaudio.systems.qualitynet.data import QualitySet, load_train_dev, train_batches, eval_dataset
from tfaudio.systems.qualitynet.model import QualityNet, quality_net_loss
from tfaudio.systems.qualitynet.run import SYSTEM, load_run_config, predict_dataset, predict_fn, stage_dir
from tfaudio.training import core

log = logging.getLogger(__name__)

#: Shortest clip loaded for training / evaluation: one analysis frame of the default model.
MIN_SAMPLES = QualityNetConfig().frame_length


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
