"""DFE training: the five stages as tasks of the shared training loop.

Stages and what each trains (the classifier is trained first and frozen after):

============  =========================================  ======================
stage         trains                                     needs
============  =========================================  ======================
classifier    CNN-FC on clean features                   —
sfe           one static mask net                        classifier
dfe           one dynamic mask net (filter generator)    classifier
cascade       DCL: a 2nd generator on the 1st's output;  classifier, dfe
              the 1st (from ``dfe``) frozen
shared        DSL: one generator applied twice,          classifier
              trained end to end
============  =========================================  ======================

A stage whose prerequisites are missing from the run directory trains them first.
Each stage's best checkpoint stores named sub-modules (``classifier``,
``mask_net_0``, ``mask_net_1``) which later stages, evaluation and export restore.

Classes: the vocabulary comes from the data's metadata and the classifier gets one
output per class, unless the recipe fixes ``model.num_classes`` (then it must match).
The first stage of a run writes ``<run_dir>/classes.json``; later stages, evaluation
and export use that vocabulary. A run directory from before it was recorded uses
UrbanSound8K's ten names (the first ``model.num_classes`` of them).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from tfaudio.config import ConfigError, merge, to_dict, write_json_atomic
from tfaudio.data.pipeline import graph_fn
from tfaudio.evaluation.metrics import accuracy
from tfaudio.layers.dynamic import resolve_formulation
from tfaudio.systems.dfe.config import PREREQUISITES, STAGES, DFEConfig
from tfaudio.systems.dfe.data import DFEData
from tfaudio.systems.dfe import model as M
from tfaudio.systems.dfe.run import CLASSES_FILE, mask_nets_for, recorded_class_names, unique_nets
from tfaudio.training import core, rundir

log = logging.getLogger(__name__)

def _accuracy(logits_fn, dataset: tf.data.Dataset, batch_size: int) -> float:
    preds, labels = [], []
    for x, y in dataset.batch(batch_size):
        preds.append(np.argmax(logits_fn(x), axis=-1))
        labels.append(y.numpy())
    return accuracy(np.concatenate(preds), np.concatenate(labels)) if preds else float("nan")


class ClassifierTask(core.Task):
    monitor = "dev_accuracy"

    def __init__(self, cfg: DFEConfig, frames: int, mels: int):
        self.cfg, self.frames, self.mels = cfg, frames, mels

    def build(self):
        self.model = M.build(M.CNNFC(self.cfg.model), self.frames, self.mels)
        self.optimizer = keras.optimizers.Adam(self.cfg.train.learning_rate)
        self.optimizer.build(self.model.trainable_variables)
        self._logits = graph_fn(self.model)

    def checkpoint_items(self):
        return {"classifier": self.model, "optimizer": self.optimizer}

    def best_items(self):
        return {"classifier": self.model}

    def train_step(self, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            loss = core.replica_loss(ce)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return {"loss": tf.reduce_mean(ce)}

    def evaluate(self, dataset):
        return {"dev_accuracy": _accuracy(self._logits, dataset, self.cfg.train.batch_size)}


class EnhancerTask(core.Task):
    """SFE / DFE / cascade / shared: masks trained through the frozen classifier."""

    monitor = "dev_accuracy"

    def __init__(self, cfg: DFEConfig, stage: str, run_dir: Path, frames: int, mels: int):
        self.cfg, self.stage, self.run_dir = cfg, stage, Path(run_dir)
        self.frames, self.mels = frames, mels

    def build(self):
        cfg = self.cfg
        self.classifier = M.build(M.CNNFC(cfg.model), self.frames, self.mels)
        core.restore_best(self.run_dir / "classifier", {"classifier": self.classifier})
        self.classifier.trainable = False
        self.nets = mask_nets_for(self.stage, cfg.model)
        self.model = M.build(M.MaskedClassifier(self.classifier, self.nets), self.frames, self.mels)
        self.trained = list(unique_nets(self.nets).values())
        if self.stage == "cascade":
            first, second = self.nets
            core.restore_best(self.run_dir / "dfe", {"mask_net_0": first})
            if cfg.train.cascade_init == "dfe":
                second.set_weights(first.get_weights())
            elif cfg.train.cascade_init != "random":
                raise ValueError(f"cascade_init must be 'dfe' or 'random', not {cfg.train.cascade_init!r}")
            first.trainable = False
            self.trained = [second]
        self.variables = [v for net in self.trained for v in net.trainable_variables]
        self.optimizer = keras.optimizers.Adam(cfg.train.learning_rate)
        self.optimizer.build(self.variables)
        self._logits = graph_fn(self.model, lambda x: self.model(x, training=False)["logits"], name="logits")

    def checkpoint_items(self):
        return {**unique_nets(self.nets), "optimizer": self.optimizer}

    def best_items(self):
        return unique_nets(self.nets)

    def train_step(self, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)["logits"]
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            loss = core.replica_loss(ce)
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return {"loss": tf.reduce_mean(ce)}

    def evaluate(self, dataset):
        return {"dev_accuracy": _accuracy(self._logits, dataset, self.cfg.train.batch_size)}


def train_stage(
    cfg: DFEConfig,
    stage: str,
    run_dir,
    resume: bool = False,
    data: Optional[DFEData] = None,
    progress: bool = True,
    say=print,
) -> Dict[str, core.FitResult]:
    """Train ``stage`` (and first any prerequisite missing from ``run_dir``)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    run_dir = Path(run_dir)
    recorded = recorded_class_names(run_dir)
    data = data or DFEData(cfg.data, cfg.frontend, progress=progress, class_names=recorded)
    if recorded is not None and list(data.class_names) != list(recorded):
        raise core.RunDirError(f"{run_dir} was trained on the classes {recorded}, the data gives "
                               f"{list(data.class_names)} (use another --run-dir)")
    cfg = resolve_num_classes(cfg, data.class_names)
    check_run_config(run_dir, cfg)
    if not (run_dir / CLASSES_FILE).exists():
        write_json_atomic(run_dir / CLASSES_FILE, {"class_names": list(data.class_names)})
        say(f"{len(data.class_names)} classes (recorded in {run_dir / CLASSES_FILE}): "
            f"{', '.join(data.class_names)}")
    strategy = core.make_strategy(cfg.train.strategy)
    results = {}
    for s in (*PREREQUISITES[stage], stage):
        stage_dir = run_dir / s
        if core.stage_complete(stage_dir):
            if s == stage:
                say(f"[{s}] already trained in {stage_dir} (best {core.stage_state(stage_dir)}); "
                    f"use another --run-dir to train it again")
            continue
        if s != stage:
            say(f"[{stage}] needs the '{s}' stage, which is not in {run_dir}: training it first")
        if s == "classifier":
            task = ClassifierTask(cfg, data.num_frames, data.num_features)
            epochs = cfg.train.classifier_epochs
        else:
            task = EnhancerTask(cfg, s, run_dir, data.num_frames, data.num_features)
            epochs = cfg.train.enhancer_epochs
        train = core.seeded_batches(data.dataset("train"), cfg.train.batch_size, cfg.train.seed)
        config = {"system": "dfe", "stage": s, "class_names": list(data.class_names), **to_dict(cfg)}
        if s in DYNAMIC_STAGES:  # what "auto" chose on this machine
            config["dynamic_conv_formulation"] = resolve_formulation(cfg.model.dynamic_conv)
        results[s] = core.fit(
            task,
            train,
            data.dataset("dev"),
            stage_dir,
            epochs=epochs,
            config=config,
            resume=resume,
            strategy=strategy,
            seed=cfg.train.seed,
            progress=progress,
        )
        say(f"[{s}] done: best dev accuracy {results[s].best_metric:.4f} at epoch {results[s].best_epoch}")
    return results


RUN_INVARIANTS = ("frontend", "model")
#: model fields that change how a stage computes, not what it learns: stages of one run may differ
RUN_VARIANT_MODEL_FIELDS = ("dynamic_conv",)
DYNAMIC_STAGES = ("dfe", "cascade", "shared")  # the stages with dynamic convolutions


def resolve_num_classes(cfg: DFEConfig, class_names) -> DFEConfig:
    """``cfg`` with ``model.num_classes`` set from the vocabulary; a recipe that fixed
    another number is a :class:`ConfigError`."""
    k = len(class_names)
    fixed = cfg.model.num_classes
    if fixed is None:
        return merge(cfg, {"model": {"num_classes": k}})
    if fixed != k:
        raise ConfigError(
            f"model.num_classes is {fixed} but the data has {k} classes ({', '.join(class_names)}); "
            f"set it to {k} or leave it out of the recipe so the data decides")
    return cfg


def check_run_config(run_dir: Path, cfg: DFEConfig) -> None:
    """Write ``run_dir/config.json`` once; later stages must agree on front-end, model
    (but for the fields of RUN_VARIANT_MODEL_FIELDS) and clip length."""
    rundir.record_config(run_dir, "dfe", to_dict(cfg), RUN_INVARIANTS + ("data.clip_seconds",),
                         ignore=tuple(f"model.{f}" for f in RUN_VARIANT_MODEL_FIELDS))


