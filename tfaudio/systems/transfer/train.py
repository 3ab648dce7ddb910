"""Training: base models for ASR and SER, and the frozen-layer transfer, as tasks of
the shared loop.

Stage directories under ``<run-dir>``::

    asr/base                     ASR base model (TIMIT train, early stopping on dev)
    ser/fold<k>/base             SER base model of LOSO fold k (session 5 = dev)
    ser/fold<k>/from-asr-l<l>    ASR -> SER with the first l layers held constant
    asr/from-ser-l<l>            SER (fold ``data.ser_base_fold``) -> ASR
    .../from-...-l<l>-warmup     the new output layer alone for one epoch (l < 5)

A transfer copies every block but the output layer from the base model's best
checkpoint (stage hand-over by named sub-modules), sets the input standardisation
from the target's training frames, holds blocks 1..l constant (out of the optimiser
and in inference mode, so their BatchNorm statistics stay too), trains the new output
layer alone for one epoch (l < 5), then the remaining layers with early stopping
from there. With l = 5 only the output layer is ever trained.

After each stage its best model is scored (``results.json`` beside it): FER and PER
(dev, core test) for ASR, frame and utterance error / unweighted error for SER.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfaudio.config import to_dict, write_json_atomic
from tfaudio.data.pipeline import graph_fn
from tfaudio.errors import ConfigError, RunDirError
from tfaudio.systems.transfer import data as D
from tfaudio.systems.transfer import scoring
from tfaudio.systems.transfer.config import LAYERS, STAGES, TASKS, TransferConfig
from tfaudio.systems.transfer.model import BLOCKS, TRANSFERABLE
from tfaudio.systems.transfer.data import Corpora
from tfaudio.systems.transfer.run import build_model, load_stage_model, stage_name
from tfaudio.training import core, rundir

log = logging.getLogger(__name__)

def other(task: str) -> str:
    return "ser" if task == "asr" else "asr"


class FrameTask(core.Task):
    """Frame classification with cross entropy (+ l2 of the conv kernels); trains the
    blocks in ``trainable`` with RMSProp, runs the first ``frozen`` blocks in inference
    mode. Monitor: dev frame accuracy."""

    monitor = "dev_accuracy"
    monitor_mode = "max"

    def __init__(self, cfg: TransferConfig, task: str, stats, trainable: Sequence[str], frozen: int = 0,
                 init_from: Optional[Path] = None, init_blocks: Sequence[str] = ()):
        self.cfg, self.task, self.stats = cfg, task, stats
        self.trainable, self.frozen = tuple(trainable), int(frozen)
        self.init_from, self.init_blocks = init_from, tuple(init_blocks)

    def build(self):
        cfg = self.cfg
        self.model = build_model(cfg, self.task)
        if self.init_from is not None:
            parts = self.model.named_parts()
            core.restore_best(self.init_from, {k: parts[k] for k in self.init_blocks})
        self.model.set_norm(*self.stats)
        self.model.frozen = self.frozen
        self.variables = self.model.block_variables(self.trainable)
        lr = cfg.train.learning_rate_asr if self.task == "asr" else cfg.train.learning_rate_ser
        self.optimizer = keras.optimizers.RMSprop(lr, rho=cfg.train.rho)
        self.optimizer.build(self.variables)
        self._predict = graph_fn(self.model)

    def checkpoint_items(self):
        return {**self.model.named_parts(), "optimizer": self.optimizer}

    def best_items(self):
        return self.model.named_parts()

    def train_step(self, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            logits = self.model.logits(x, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits)
            ce = core.replica_loss(ce)  # this replica's share of the global mean
            reg = self.model.regularization()  # one value for the whole step: each replica adds its share
            n = core.replica_count()
            loss = ce + reg / n
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return {"loss": loss * n, "ce": ce * n, "l2": reg}  # fit averages these over the replicas

    def predict(self, frames: D.Frames) -> np.ndarray:
        return predict(self._predict, frames, self.cfg.data.context)

    def evaluate(self, dataset: D.Frames) -> Dict[str, float]:
        post = self.predict(dataset)
        return {"dev_accuracy": float(np.mean(np.argmax(post, -1) == dataset.labels))}


def predict(fn, frames: D.Frames, context: int) -> np.ndarray:
    out = [fn(tf.constant(w)).numpy() for w in D.all_windows(frames, context)]
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


# ----------------------------------------------------------------------------------
# run directory
# ----------------------------------------------------------------------------------
RUN_INVARIANTS = ("data", "frontend", "model", "decoder")


CORPUS_KEYS = {"timit_dir": "asr", "iemocap_dir": "ser"}


def check_run_config(run_dir: Path, cfg: TransferConfig) -> None:
    """``run_dir/config.json`` is written once; every stage of a directory shares
    data, front-end, model and decoder settings. A corpus root may still be added
    while no stage of its task was trained (base ASR on TIMIT, then base SER on
    IEMOCAP in the same directory)."""

    def add_corpora(old: dict, new: dict) -> bool:
        changed = False
        for key, task in CORPUS_KEYS.items():
            was, now = old["data"].get(key), new["data"][key]
            if was == now:
                continue
            trained = any(core.stage_complete(p.parent) for p in (run_dir / task).rglob("state.json")) \
                if (run_dir / task).exists() else False
            if was is not None or trained:
                raise RunDirError(f"{run_dir} was trained with data.{key} = {was!r}, not {now!r}; stages of "
                                  f"one directory share their corpora (use another --run-dir)")
            old["data"][key], changed = now, True
        return changed

    rundir.record_config(run_dir, "transfer", to_dict(cfg), RUN_INVARIANTS, update=add_corpora)


# ----------------------------------------------------------------------------------
# stages
# ----------------------------------------------------------------------------------
def _fit(cfg: TransferConfig, task: FrameTask, sets, stage_dir: Path, epochs: int, resume: bool, progress: bool,
         patience: Optional[int]):
    t = cfg.train
    batches = D.training_batches(sets["train"], cfg.data.context, t.batch_size, t.seed)
    return core.fit(task, batches, sets["dev"], stage_dir, epochs=epochs,
                    config={"system": "transfer", "stage": str(stage_dir.name), **to_dict(cfg)}, resume=resume,
                    strategy=core.make_strategy(t.strategy), seed=t.seed, progress=progress, patience=patience)


def _score(run_dir: Path, stage: str, cfg: TransferConfig, target: str, corpora: Corpora, sets, say) -> dict:
    model = load_stage_model(run_dir, cfg, target, stage)
    fn = graph_fn(model)
    post = {k: predict(fn, sets[k], cfg.data.context) for k in ("dev", "test")}
    if target == "asr":
        res = scoring.asr_scores(post, sets, corpora.decoder(), cfg.decoder)
    else:
        res = scoring.ser_scores(post, sets)
    res["epochs_run"] = core.stage_state(run_dir / stage).get("epochs_run")
    res["alignment"] = cfg.data.alignment
    write_json_atomic(run_dir / stage / "results.json", res)
    say(f"[{stage}] " + ", ".join(f"{k}={v:.4f}" for k, v in res.items() if isinstance(v, float)))
    return res


def train_base(cfg: TransferConfig, task: str, run_dir, corpora: Corpora, fold: Optional[int] = None,
               resume: bool = False, progress: bool = True, say=print) -> dict:
    run_dir = Path(run_dir)
    stage = stage_name(task, fold)
    sets = corpora.sets(task, fold)
    if not core.stage_complete(run_dir / stage):
        say(f"[{stage}] train {len(sets['train'].labels)} / dev {len(sets['dev'].labels)} frames")
        ft = FrameTask(cfg, task, sets["train"].stats(), BLOCKS)
        _fit(cfg, ft, sets, run_dir / stage, cfg.train.epochs, resume, progress, cfg.train.patience)
    if not (run_dir / stage / "results.json").exists():
        return _score(run_dir, stage, cfg, task, corpora, sets, say)
    return json.loads((run_dir / stage / "results.json").read_text())


def train_transfer(cfg: TransferConfig, base: str, target: str, frozen: int, run_dir, corpora: Corpora,
                   fold: Optional[int] = None, resume: bool = False, progress: bool = True, say=print) -> dict:
    """Transfer the base model of ``base`` to ``target`` with ``frozen`` constant blocks."""
    if base not in TASKS or target not in TASKS or base == target:
        raise ConfigError(f"--base {base} --target {target}: transfer goes asr -> ser or ser -> asr")
    if not 0 <= frozen <= LAYERS:
        raise ConfigError(f"--frozen {frozen}: hold 0..{LAYERS} layers constant")
    run_dir = Path(run_dir)
    base_stage = stage_name(base, cfg.data.ser_base_fold if base == "ser" else None)
    if not core.stage_complete(run_dir / base_stage):
        raise RunDirError(f"{run_dir / base_stage}: the {base.upper()} base model is not trained "
                          f"(tfaudio-train transfer --stage base --task {base})")
    stage = stage_name(target, fold, base, frozen)
    sets = corpora.sets(target, fold)
    stats = sets["train"].stats()
    if not core.stage_complete(run_dir / stage):
        t = cfg.train
        if frozen == LAYERS:  # a feature extractor: the output layer alone, with early stopping
            ft = FrameTask(cfg, target, stats, ("out",), frozen, run_dir / base_stage, TRANSFERABLE)
            _fit(cfg, ft, sets, run_dir / stage, t.epochs, resume, progress, t.patience)
        else:
            warm = run_dir / f"{stage}-warmup"
            if not core.stage_complete(warm):
                ft = FrameTask(cfg, target, stats, ("out",), LAYERS, run_dir / base_stage, TRANSFERABLE)
                _fit(cfg, ft, sets, warm, t.warmup_epochs, resume, progress, None)
            ft = FrameTask(cfg, target, stats, BLOCKS[frozen:], frozen, warm, ("norm",) + BLOCKS)
            _fit(cfg, ft, sets, run_dir / stage, t.epochs, resume, progress, t.patience)
    if not (run_dir / stage / "results.json").exists():
        return _score(run_dir, stage, cfg, target, corpora, sets, say)
    return json.loads((run_dir / stage / "results.json").read_text())


def fold_ids(corpora: Corpora, task: str) -> List[Optional[int]]:
    return [f.index for f in corpora.folds()] if task == "ser" else [None]


def train(cfg: TransferConfig, stage: str, run_dir, task: Optional[str] = None, base: Optional[str] = None,
          target: Optional[str] = None, frozen: Optional[Sequence[int]] = None, resume: bool = False,
          progress: bool = True, say=print, skip_bad: bool = False) -> dict:
    """``--stage base`` (``task``: asr, ser or both), ``transfer`` (``base`` -> ``target``
    with each l in ``frozen``) or ``sweep`` (both bases, every l in both directions)."""
    if stage not in STAGES:
        raise ConfigError(f"--stage {stage!r}: choose one of {', '.join(STAGES)}")
    for l in (frozen if frozen is not None else cfg.train.frozen):
        if not 0 <= l <= LAYERS:
            raise ConfigError(f"--frozen {l}: hold 0..{LAYERS} layers constant")
    run_dir = Path(run_dir)
    check_run_config(run_dir, cfg)
    corpora = Corpora(cfg, progress, skip_bad)
    results = {}
    if stage == "base":
        for tk in ([task] if task else list(TASKS)):
            if tk not in TASKS:
                raise ConfigError(f"--task {tk!r}: choose asr or ser")
            for f in fold_ids(corpora, tk):
                results[stage_name(tk, f)] = train_base(cfg, tk, run_dir, corpora, f, resume, progress, say)
        return results
    if stage == "transfer":
        if base is None and target is None:
            raise ConfigError("--stage transfer needs --base (asr or ser); --target is the other task")
        base = base or other(target)
        target = target or other(base)
        for l in (frozen if frozen is not None else cfg.train.frozen):
            for f in fold_ids(corpora, target):
                results[stage_name(target, f, base, l)] = train_transfer(cfg, base, target, l, run_dir, corpora, f,
                                                                         resume, progress, say)
        return results
    # sweep: both bases, then every l in both directions
    for tk in TASKS:
        for f in fold_ids(corpora, tk):
            results[stage_name(tk, f)] = train_base(cfg, tk, run_dir, corpora, f, resume, progress, say)
    for b in TASKS:
        tg = other(b)
        for l in (frozen if frozen is not None else cfg.train.frozen):
            for f in fold_ids(corpora, tg):
                results[stage_name(tg, f, b, l)] = train_transfer(cfg, b, tg, l, run_dir, corpora, f, resume,
                                                                  progress, say)
    return results
