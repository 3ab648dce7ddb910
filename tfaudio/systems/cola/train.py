"""COLA training: contrastive pretraining and the downstream runs, each a ``core.Task``.

Run directory::

    <run-dir>/pretrain/                          the encoder f and head g (stage dir of core.fit)
    <run-dir>/<task>/<mode>-<init>/[cvK/]        linear | finetune, on pretrained | random
                                                 (finetune-random is the supervised baseline)
    <run-dir>/skipped_files.tsv                  files skipped with --skip-bad-files (path, reason)

Pretraining draws the pairs inside the step: for every clip of the batch two
different segment starts, uniform over the clip, from ``Task.step_seed`` (a function
of run seed, epoch and step), so a new draw every epoch and an exact resume. Under
``tf.distribute`` every replica gathers the positives of all replicas
(``ReplicaContext.all_gather``) so each anchor is contrasted with the global batch.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from tfaudio.config import ConfigError, merge, to_dict
from tfaudio.data.pipeline import graph_fn
from tfaudio.evaluation.metrics import accuracy
from tfaudio.systems.cola import data as D
from tfaudio.systems.cola import model as M
from tfaudio.systems.cola.config import INITS, PRETRAIN, ColaConfig
from tfaudio.systems.cola.run import clip_logits, downstream_dir
from tfaudio.training import core
from tfaudio.training.batch_norm import estimate_batch_norm_statistics

log = logging.getLogger(__name__)



# ----------------------------------------------------------------------------------
# Pretraining
# ----------------------------------------------------------------------------------
def gathered_logits(head: M.ProjectionHead, z_anchor, z_positive):
    """Similarities of this replica's anchors to the positives of *every* replica, and
    the column of each anchor's own positive."""
    ctx = tf.distribute.get_replica_context()
    local = tf.shape(z_positive)[0]
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        positives = ctx.all_gather(z_positive, axis=0)
        sizes = ctx.all_gather(tf.reshape(local, [1]), axis=0)
        rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        offset = tf.reduce_sum(sizes[:rid])
    else:
        positives, offset = z_positive, 0
    return head.logits(z_anchor, positives), offset + tf.range(local)


class PretrainTask(core.Task):
    monitor = "dev_loss"
    monitor_mode = "min"

    def __init__(self, cfg: ColaConfig, dev=None):
        self.cfg = cfg
        self.dev = dev

    def build(self):
        cfg = self.cfg
        self.frontend = M.make_frontend(cfg.frontend)
        self.encoder = M.build_encoder(cfg.model, cfg.frontend)
        self.head = M.ProjectionHead(cfg.model)
        self.head.build((None, self.encoder.output.shape[-1]))
        self.variables = self.encoder.trainable_variables + self.head.trainable_variables
        self.optimizer = keras.optimizers.Adam(cfg.train.learning_rate)
        self.optimizer.build(self.variables)
        self.seg = M.segment_samples(cfg.frontend)
        self._dev_fn = tf.function(self._dev_logits, reduce_retracing=True)

    def checkpoint_items(self):
        return {"encoder": self.encoder, "head": self.head, "optimizer": self.optimizer}

    def best_items(self):
        return {"encoder": self.encoder, "head": self.head}

    def features(self, waveform):
        return self.frontend(waveform)[..., None]

    def train_step(self, batch):
        wave, lengths = batch["waveform"], batch["length"]
        first, second = M.pair_offsets(lengths, self.seg, self.step_seed(1))
        anchor = M.crop(wave, first, self.seg)
        positive = M.crop(wave, second, self.seg)
        if self.cfg.data.positive_noise > 0:
            positive += self.cfg.data.positive_noise * tf.random.stateless_normal(tf.shape(positive),
                                                                                  seed=self.step_seed(2))
        x = self.features(tf.concat([anchor, positive], axis=0))
        with tf.GradientTape() as tape:
            z = self.head(self.encoder(x, training=True))
            za, zp = tf.split(z, 2, axis=0)
            logits, labels = gathered_logits(self.head, za, zp)
            per_anchor = M.contrastive_loss(logits, labels)
            loss = core.replica_loss(per_anchor)
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32))
        n = tf.distribute.get_replica_context().num_replicas_in_sync
        return {"loss": loss * n, "pair_accuracy": acc}

    def _dev_logits(self, a, p):
        z = self.head(self.encoder(tf.concat([a, p], 0)[..., None], training=False))
        za, zp = tf.split(z, 2, axis=0)
        return self.head.logits(za, zp)

    def evaluate(self, dev):
        a, p = dev
        bs = min(len(a), self.cfg.train.batch_size)
        losses, hits = [], []
        for i in range(0, len(a) - bs + 1, bs):
            logits = self._dev_fn(tf.constant(a[i : i + bs]), tf.constant(p[i : i + bs])).numpy()
            labels = np.arange(len(logits))
            m = logits.max(1, keepdims=True)
            lse = m[:, 0] + np.log(np.exp(logits - m).sum(1))
            losses += list(lse - logits[labels, labels])
            hits += list(logits.argmax(1) == labels)
        return {"dev_loss": float(np.mean(losses)), "dev_pair_accuracy": float(np.mean(hits)),
                "dev_negatives": bs - 1}


# ----------------------------------------------------------------------------------
# Downstream
# ----------------------------------------------------------------------------------
class DownstreamTask(core.Task):
    """``linear``: one dense layer on the frozen encoder (BN in inference mode; a random
    encoder's BN statistics are first estimated on the task's training segments);
    ``finetune``: encoder and layer trained together. Random 960 ms crops; dev
    accuracy on whole clips (segment logits averaged)."""

    monitor = "dev_accuracy"
    monitor_mode = "max"

    def __init__(self, cfg: ColaConfig, mode: str, num_classes: int, init_from: Optional[Path] = None,
                 bn_features: Optional[np.ndarray] = None):
        self.cfg, self.mode, self.num_classes, self.init_from = cfg, mode, num_classes, init_from
        self.bn_features = bn_features  # linear on a random encoder: [segments, frames, mels] for its BN statistics

    def build(self):
        cfg = self.cfg
        self.frontend = M.make_frontend(cfg.frontend)
        self.encoder = M.build_encoder(cfg.model, cfg.frontend)
        if self.init_from is not None:
            core.restore_best(self.init_from, {"encoder": self.encoder})
        elif self.mode == "linear" and self.bn_features is not None:
            b = cfg.downstream.batch_size
            estimate_batch_norm_statistics(
                self.encoder, (tf.constant(self.bn_features[i : i + b, ..., None])
                               for i in range(0, len(self.bn_features), b)))
        self.head = M.make_classifier_head(self.num_classes, self.encoder.output.shape[-1])
        self.variables = list(self.head.trainable_variables)
        if self.mode == "finetune":
            self.variables = self.encoder.trainable_variables + self.variables
        self.optimizer = keras.optimizers.Adam(cfg.downstream.learning_rate)
        self.optimizer.build(self.variables)
        self.seg = M.segment_samples(cfg.frontend)
        self._logits = graph_fn(self.head, lambda x: self.head(self.encoder(x[..., None], training=False)),
                                name="clip_logits")

    def checkpoint_items(self):
        return {"encoder": self.encoder, "classifier": self.head, "optimizer": self.optimizer}

    def best_items(self):
        return {"encoder": self.encoder, "classifier": self.head}

    def train_step(self, batch):
        offsets = M.random_offsets(batch["length"], self.seg, self.step_seed(1))
        x = self.frontend(M.crop(batch["waveform"], offsets, self.seg))[..., None]
        with tf.GradientTape() as tape:
            h = self.encoder(x, training=self.mode == "finetune")
            logits = self.head(h, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch["label"], logits=logits)
            loss = core.replica_loss(ce)
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        n = tf.distribute.get_replica_context().num_replicas_in_sync
        return {"loss": loss * n}

    def clip_logits(self, segs: D.Segmented, batch: int = 256) -> np.ndarray:
        return clip_logits(self._logits, segs, batch)

    def evaluate(self, dev: D.Segmented):
        return {"dev_accuracy": accuracy(self.clip_logits(dev), dev.labels)}


# ----------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------
def pretrained_config(run_dir, cfg: ColaConfig) -> ColaConfig:
    """``cfg`` with the front-end and model of the run's pretraining (they must match)."""
    path = Path(run_dir) / PRETRAIN / "config.json"
    if not path.exists() or not core.stage_complete(Path(run_dir) / PRETRAIN):
        raise core.RunDirError(f"{run_dir}: no finished pretraining (run tfaudio-train cola --stage pretrain "
                               f"--run-dir {run_dir}, or use --init random)")
    old = json.loads(path.read_text())
    return merge(cfg, {"frontend": old["frontend"], "model": old["model"]})


def train_pretrain(cfg: ColaConfig, run_dir, resume: bool = False, progress: bool = True,
                   say=print, skip_bad: bool = False) -> core.FitResult:
    run_dir = Path(run_dir)
    stage = run_dir / PRETRAIN
    if core.stage_complete(stage) and not resume:
        raise core.RunDirError(f"{stage} is already trained; use another --run-dir to train again")
    data = D.load_pretrain(cfg, progress, skip_bad)
    D.write_skipped(run_dir / "skipped_files.tsv", data.skipped)
    t = cfg.train
    strategy = core.make_strategy(t.strategy)
    replicas = strategy.num_replicas_in_sync
    if t.batch_size % replicas:
        raise ConfigError(f"--batch-size {t.batch_size} is not a multiple of the {replicas} replicas")
    if data.num_train is not None and data.num_train < t.batch_size:
        raise ConfigError(f"--batch-size {t.batch_size} is larger than the {data.num_train} training clips of "
                          f"{data.source}")
    steps = t.steps_per_epoch or (data.num_train // t.batch_size if data.num_train else None)
    if not steps:
        raise ConfigError("train.steps_per_epoch must be set for this source")
    skips = (f" ({len(data.skipped)} unreadable skipped, listed in {run_dir / 'skipped_files.tsv'})"
             if data.skipped else "")
    say(f"pretrain on {data.source}: {data.num_train} clips{skips}, dev {len(data.dev_anchor)} pairs; "
        f"batch {t.batch_size} = "
        f"{t.batch_size - 1} negatives per anchor; {cfg.model.similarity} similarity; {replicas} replica(s)")
    task = PretrainTask(cfg)
    batches = core.seeded_batches(data.train, t.batch_size, t.seed, cfg.data.shuffle_buffer, padded=True,
                                  drop_remainder=True)
    return core.fit(task, batches, (data.dev_anchor, data.dev_positive), stage, epochs=t.epochs,
                    config={"system": "cola", "stage": PRETRAIN, **to_dict(cfg)}, resume=resume, strategy=strategy,
                    seed=t.seed, progress=progress, steps_per_epoch=steps)


def train_downstream(cfg: ColaConfig, mode: str, init: str, run_dir, folds: Optional[str] = None,
                     resume: bool = False, progress: bool = True, say=print,
                     skip_bad: bool = False) -> Dict[str, core.FitResult]:
    if mode not in ("linear", "finetune"):
        raise ConfigError(f"--stage {mode!r}: downstream stages are linear and finetune")
    if init not in INITS:
        raise ConfigError(f"--init {init!r}: choose pretrained or random")
    run_dir = Path(run_dir)
    if init == "pretrained":
        cfg = pretrained_config(run_dir, cfg)
    d = cfg.downstream
    name = D.task_name(d.task)
    results = {}
    for fold in D.fold_names(d.task, folds):
        stage = downstream_dir(run_dir, name, mode, init, fold)
        if core.stage_complete(stage) and not resume:
            say(f"[{stage}] already trained; use another --run-dir to train it again")
            continue
        data = D.DownstreamData(cfg, fold, progress, skip_bad)
        say(f"{mode} ({init} encoder) on {D.describe(data.task)}{' fold ' + fold if fold else ''}")
        dev = data.segmented("dev")
        train_ds = data.train_dataset()
        D.write_skipped(run_dir / "skipped_files.tsv", data.skipped)
        if data.skipped:
            say(f"{len(data.skipped)} file(s) skipped (--skip-bad-files), listed in {run_dir / 'skipped_files.tsv'}")
        bn = None
        if mode == "linear" and init == "random":  # the frozen random encoder's BN statistics from the task
            bn = data.segmented("train").features
            say(f"batch-norm statistics of the random encoder estimated on {len(bn)} training segments")
        task = DownstreamTask(cfg, mode, len(data.classes),
                              run_dir / PRETRAIN if init == "pretrained" else None, bn)
        res = core.fit(task, core.seeded_batches(train_ds, d.batch_size, d.seed, padded=True), dev, stage,
                       epochs=d.epochs, config={"system": "cola", "stage": mode, "init": init, "task": name,
                                                "fold": fold, "classes": data.classes, **to_dict(cfg)},
                       resume=resume, strategy=core.make_strategy(cfg.train.strategy), seed=d.seed,
                       progress=progress)
        say(f"[{stage}] best dev accuracy {res.best_metric:.4f} at epoch {res.best_epoch}")
        results[str(stage)] = res
    return results
