"""One custom training loop for every system.

A training *algorithm* is a :class:`Task`: it owns its models and optimizers and
defines one gradient step that returns a named dict of loss terms. The loop here
owns everything else, identically for every algorithm:

* the ``tf.distribute`` strategy (default strategy on one machine, ``mirrored`` for
  several local GPUs, ``multiworker`` on a cluster) — the step runs under
  ``strategy.run`` inside a ``tf.function``;
* a checkpoint at the end of every epoch (model + optimizer + epoch counter), so
  ``resume=True`` after a kill loses at most the epoch that was running;
* the best checkpoint by the task's dev metric (``best/``) and ``best.json``;
* TensorBoard scalars (``tb/``), ``metrics.jsonl`` (one line per epoch), a tqdm
  progress bar, and the resolved config as ``config.json`` beside the checkpoints;
* exact resume: every random draw is a function of (seed, epoch, step). The data
  order comes from a per-epoch seed (:func:`seeded_batches`); the state of every
  Keras seed generator (dropout, noise layers) is reset from (seed, epoch) at the
  start of each epoch; a task's own draws use :meth:`Task.step_seed`. An epoch is
  committed by its checkpoint: its metrics record is stored before the checkpoint
  and ``metrics.jsonl`` is rewritten from the stored records on resume, so a kill at
  any point (mid-epoch, or between checkpoint and log line) resumes to exactly the
  run that was never interrupted.

Layout of a stage directory::

    <run_dir>/<stage>/config.json  ckpt/  best/  best.json  metrics.jsonl  tb/  state.json
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Union

import keras
import tensorflow as tf
from tqdm.auto import tqdm

from tfaudio.atomic import write_text
from tfaudio.config import write_json_atomic
from tfaudio.errors import RunDirError, TrainingDivergedError  # noqa: F401  (re-exported)
from tfaudio.training.distribute import (  # noqa: F401  (the loop's distribution helpers, re-exported)
    multi_worker_mode, WorkerSaver, check_tf_config, is_chief, make_strategy, replica_count, replica_loss,
)

log = logging.getLogger(__name__)

DatasetOrFactory = Union[tf.data.Dataset, Callable[[int], tf.data.Dataset]]




class Task:
    """Base class of a training algorithm (one per stage / strategy).

    Subclasses set :attr:`monitor` (a key of :meth:`evaluate`'s result) and
    :attr:`monitor_mode` and implement :meth:`build`, :meth:`checkpoint_items`,
    :meth:`train_step` and :meth:`evaluate`.
    """

    monitor: str = "dev_accuracy"
    monitor_mode: str = "max"

    def build(self) -> None:
        """Create models (built) and optimizers (``optimizer.build(vars)``, so a resumed
        run can restore their slots). Called inside ``strategy.scope()``."""
        raise NotImplementedError

    def checkpoint_items(self) -> Dict[str, tf.Module]:
        """Named Keras models / optimizers (or trackables) saved every epoch."""
        raise NotImplementedError

    def best_items(self) -> Dict[str, tf.Module]:
        """Named trackables kept at the best dev metric (defaults to all)."""
        return self.checkpoint_items()

    def train_step(self, batch) -> Dict[str, tf.Tensor]:
        """One step on one replica's batch; returns loss terms incl. ``"loss"``."""
        raise NotImplementedError

    def evaluate(self, dataset: tf.data.Dataset) -> Dict[str, float]:
        """Metrics on a dataset (plain floats), run outside the strategy."""
        raise NotImplementedError

    #: Set by :func:`fit`: the run seed and the epoch / step counters of the loop.
    seed: int = 0
    epoch_counter: Optional[tf.Variable] = None
    step_counter: Optional[tf.Variable] = None

    def step_seed(self, salt: int = 0) -> tf.Tensor:
        """A seed for ``tf.random.stateless_*`` draws inside :meth:`train_step`: a
        function of (run seed, ``salt``, epoch, step) only, so a resumed run draws the
        same numbers as an uninterrupted one. Use a different ``salt`` per draw."""
        if self.epoch_counter is None or self.step_counter is None:
            raise RuntimeError("step_seed() is only available inside fit()")
        hi = tf.constant(self.seed * 1_000_003 + salt, tf.int64)
        lo = self.epoch_counter * (1 << 32) + self.step_counter
        return tf.stack([hi, lo])


def trackable(obj):
    """What a checkpoint stores for ``obj``: a Keras model / layer / optimizer as an
    ordered ``{"0000": variable, ...}`` dict, anything else as is.

    ``tf.train.Checkpoint`` does not see layers that a Keras 3 model keeps in Python
    lists, so saving the model object would silently skip them. Variables keyed by
    their position in ``weights`` / ``variables`` (deterministic for the same code)
    are always saved. Optimizers are built first so their slots exist on restore.
    """
    if isinstance(obj, keras.optimizers.Optimizer):
        variables = obj.variables
    elif isinstance(obj, keras.layers.Layer):
        variables = obj.weights
    else:
        return obj
    return {f"{i:04d}": v for i, v in enumerate(variables)}


def _items(items: Mapping[str, object]) -> Dict[str, object]:
    return {k: trackable(v) for k, v in items.items()}


def seed_generator_states(items: Mapping[str, object]) -> list:
    """The state variables of every Keras seed generator (dropout, noise, random
    augmentation layers) inside the given models, in a deterministic order."""
    seen, out = set(), []
    for name in sorted(items):
        obj = items[name]
        if not isinstance(obj, keras.layers.Layer):
            continue
        for v in obj.variables:
            if "seed_generator_state" in v.path and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


def reset_seed_generators(states, seed: int, epoch: int) -> None:
    """Set every seed generator's state from (seed, its index, epoch): what dropout
    draws in an epoch no longer depends on what ran before it."""
    for i, v in enumerate(states):
        base = (seed * 1_000_003 + 7919 * (i + 1)) % (1 << 31)
        v.assign(tf.constant([base, epoch * (1 << 20)], dtype=v.dtype))


def _read_records(path: Path) -> list:
    """Stored epoch records; a run directory written before records were stored
    has only ``metrics.jsonl``, which then is the record."""
    if path.exists():
        return json.loads(path.read_text())
    log_path = path.parent / "metrics.jsonl"
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def _write_metrics_log(stage_dir: Path, records: list) -> None:
    write_text(stage_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in records))


@dataclass
class FitResult:
    stage_dir: Path
    best_metric: float
    best_epoch: int
    epochs_run: int
    history: list = field(default_factory=list)
    #: how many times the training step was traced (1 for one element spec)
    traces: int = 0


def stage_state(stage_dir) -> dict:
    """``state.json`` of a stage ({} when the stage never started)."""
    p = Path(stage_dir) / "state.json"
    return json.loads(p.read_text()) if p.exists() else {}


def stage_complete(stage_dir) -> bool:
    return bool(stage_state(stage_dir).get("complete"))


def restore_best(stage_dir, items: Mapping[str, tf.Module]) -> None:
    """Restore named sub-modules from a stage's best checkpoint (stage hand-over)."""
    path = tf.train.latest_checkpoint(str(Path(stage_dir) / "best"))
    if path is None:
        raise RunDirError(f"{stage_dir}: no best checkpoint (has this stage been trained?)")
    status = tf.train.Checkpoint(**_items(items)).read(path)
    status.assert_existing_objects_matched().expect_partial()  # save_counter is not ours


def _is_better(value: float, best: float, mode: str) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value > best if mode == "max" else value < best


def fit(
    task: Task,
    train_data: DatasetOrFactory,
    dev_data: Optional[tf.data.Dataset],
    stage_dir,
    epochs: int,
    config: Optional[dict] = None,
    resume: bool = False,
    strategy: Optional[tf.distribute.Strategy] = None,
    seed: int = 0,
    progress: bool = True,
    steps_per_epoch: Optional[int] = None,
    patience: Optional[int] = None,
    data_service: Optional[str] = None,
    data_service_mode: Optional[str] = None,
) -> FitResult:
    """Train ``task`` for ``epochs`` epochs with checkpoints in ``stage_dir``.

    ``train_data`` is a dataset or a function ``epoch -> dataset`` (preferred: it lets
    the data order depend on the epoch only, which keeps resumed runs reproducible).
    With ``resume=False`` a stage directory that already holds checkpoints is an
    error (nothing is overwritten); with ``resume=True`` training continues after the
    last finished epoch. With ``patience`` (and dev data) training stops early once
    that many epochs passed without a better dev metric (decided from the stored best
    epoch, so a resumed run stops where the uninterrupted one did).

    Under a multi-worker strategy every worker runs this with the same arguments and
    the same (shared) ``stage_dir``: batches are global (each worker takes its slice of
    every batch), only the chief writes the stage directory, and every worker restores
    from it, so a job whose workers are all restarted with ``resume=True`` continues
    after the last finished epoch. ``data_service`` (``grpc://HOST:PORT``, default: the
    one set by :func:`tfaudio.data.service.set_default`) reads every epoch's dataset
    through the tf.data service (:mod:`tfaudio.data.service`).
    """
    from tfaudio.data import service as input_service

    stage_dir = Path(stage_dir)
    ckpt_dir, best_dir = stage_dir / "ckpt", stage_dir / "best"
    existing = tf.train.latest_checkpoint(str(ckpt_dir))
    if existing and not resume:
        raise RunDirError(
            f"{stage_dir} already holds checkpoints; pass --resume to continue it, or "
            f"choose another --run-dir"
        )
    stage_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    multi_worker = multi_worker_mode(strategy)
    default_address, default_mode = input_service.default()
    service_address = data_service or default_address
    service_mode = data_service_mode or default_mode
    if service_address and multi_worker:
        raise input_service.DataServiceError(
            "--data-service with --strategy multiworker is not supported (the workers would not see "
            "the same global batches); use it with one trainer (default or mirrored strategy)")

    with strategy.scope():
        task.build()
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        best_var = tf.Variable(float("nan"), dtype=tf.float64, trainable=False, name="best")
        best_epoch_var = tf.Variable(-1, dtype=tf.int64, trainable=False, name="best_epoch")
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        ckpt = tf.train.Checkpoint(
            epoch=epoch_var, best=best_var, best_epoch=best_epoch_var, **_items(task.checkpoint_items())
        )
    task.seed, task.epoch_counter, task.step_counter = seed, epoch_var, step_var
    rng_states = seed_generator_states(task.checkpoint_items())
    # One checkpoint is enough to resume: a new one is complete before the manager
    # points at it and removes the old one (a kill in between keeps the old one).
    manager = WorkerSaver(ckpt, ckpt_dir, max_to_keep=1, chief=chief)
    best_ckpt = tf.train.Checkpoint(**_items(task.best_items()))
    best_manager = WorkerSaver(best_ckpt, best_dir, max_to_keep=1, chief=chief)

    records_path = stage_dir / "records.json"
    if existing:
        ckpt.restore(existing).assert_existing_objects_matched()
        log.info("resumed %s at epoch %d", stage_dir, int(epoch_var.numpy()))
    start_epoch = int(epoch_var.numpy())
    # The checkpoint is the commit point: records of epochs it does not hold are dropped
    # (they are recomputed, identically), missing log lines are restored.
    records = [r for r in _read_records(records_path) if r["epoch"] <= start_epoch]
    if chief:
        write_json_atomic(records_path, records)
        _write_metrics_log(stage_dir, records)
        if config is not None:
            write_json_atomic(stage_dir / "config.json", config)
        write_json_atomic(stage_dir / "state.json", {"complete": False, "epochs": epochs})

    def reduced_step(batch):
        per_replica = strategy.run(task.train_step, args=(batch,))
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()
        }

    # One trace per element spec of the data: the step is compiled for the dataset's
    # own (relaxed) shapes, so variable-length batches (batch 1 of any length, the last
    # partial batch) reuse one graph instead of retracing.
    compiled: list = []

    def step_for(spec):
        for known, fn in compiled:
            if known == spec:
                return fn
        ranked = all(getattr(getattr(c, "shape", None), "rank", 0) is not None
                     for c in tf.nest.flatten(spec, expand_composites=False))
        # Unknown ranks (e.g. a tf.numpy_function in the pipeline) cannot be a signature.
        fn = (tf.function(reduced_step, input_signature=[spec]) if ranked
              else tf.function(reduced_step, reduce_retracing=True))
        compiled.append((spec, fn))
        return fn

    writer = tf.summary.create_file_writer(str(stage_dir / "tb")) if chief else tf.summary.create_noop_writer()
    history = []
    for epoch in range(start_epoch, epochs):
        if patience and dev_data is not None and best_epoch_var.numpy() > 0 \
                and epoch - int(best_epoch_var.numpy()) >= patience:
            tqdm.write(f"[{stage_dir.name}] early stop: no dev improvement for {patience} epochs")
            break
        ds = train_data(epoch) if callable(train_data) else train_data
        n_steps = steps_per_epoch or int(ds.cardinality().numpy())
        if service_address:
            ds = input_service.distribute(ds, service_address, service_mode, steps=n_steps)
        if multi_worker:
            # Every worker builds the same global batches; each takes its slice of each.
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            ds = ds.with_options(options)
        dist_ds = strategy.experimental_distribute_dataset(ds)
        distributed_step = step_for(dist_ds.element_spec)
        reset_seed_generators(rng_states, seed, epoch)
        totals: Dict[str, float] = {}
        count = 0
        t0 = time.time()
        bar = tqdm(
            total=n_steps if n_steps > 0 else None,
            desc=f"{stage_dir.name} {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
            unit="step",
        )
        for step, batch in enumerate(dist_ds):
            if steps_per_epoch and step >= steps_per_epoch:
                break
            step_var.assign(step)
            losses = {k: float(v) for k, v in distributed_step(batch).items()}
            if not math.isfinite(losses.get("loss", 0.0)):
                bar.close()
                good = tf.train.latest_checkpoint(str(ckpt_dir))
                raise TrainingDivergedError(
                    f"{stage_dir}: loss became {losses['loss']} at epoch {epoch + 1}, step "
                    f"{step + 1}; check the labels for extreme values or lower the learning "
                    f"rate (--set train.learning_rate=...); "
                    + (f"last good checkpoint: {good} (--resume continues from it)" if good
                       else "no epoch finished, so no checkpoint was kept")
                )
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + v
            count += 1
            bar.update(1)
            bar.set_postfix(loss=f"{totals['loss'] / count:.4f}")
        bar.close()
        record = {"epoch": epoch + 1, "seconds": round(time.time() - t0, 2)}
        record.update({f"train_{k}": v / max(count, 1) for k, v in totals.items()})
        if dev_data is not None:
            record.update(task.evaluate(dev_data))
        metric = float(record.get(task.monitor, float("nan")))
        if _is_better(metric, float(best_var.numpy()), task.monitor_mode) or (
            dev_data is None
        ):
            best_var.assign(metric)
            best_epoch_var.assign(epoch + 1)
            best_manager.save(checkpoint_number=epoch + 1)
            if chief:
                write_json_atomic(
                    stage_dir / "best.json",
                    {"epoch": epoch + 1, "monitor": task.monitor, "value": metric, **record},
                )
        # Commit: the record first (dropped on resume if the checkpoint did not land),
        # then the checkpoint, then the log derived from the records.
        records.append(record)
        if chief:
            write_json_atomic(records_path, records)
        epoch_var.assign(epoch + 1)
        manager.save(checkpoint_number=epoch + 1)
        if chief:
            _write_metrics_log(stage_dir, records)
        with writer.as_default(step=epoch + 1):
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    tf.summary.scalar(k, v)
        writer.flush()
        history.append(record)
        shown = ", ".join(
            f"{k}={v:.4f}" for k, v in record.items() if isinstance(v, float) and k != "seconds"
        )
        tqdm.write(f"[{stage_dir.name}] epoch {epoch + 1}/{epochs} {shown} ({record['seconds']}s)")

    if chief:
        write_json_atomic(
            stage_dir / "state.json",
            {
                "complete": True,
                "epochs": epochs,
                "epochs_run": int(epoch_var.numpy()),
                "best_epoch": int(best_epoch_var.numpy()),
                "best": float(best_var.numpy()),
                "monitor": task.monitor,
            },
        )
    return FitResult(
        stage_dir=stage_dir,
        best_metric=float(best_var.numpy()),
        best_epoch=int(best_epoch_var.numpy()),
        epochs_run=int(epoch_var.numpy()) - start_epoch,
        history=history,
        traces=sum(int(fn.experimental_get_tracing_count()) for _, fn in compiled),
    )


def seeded_batches(
    ds: tf.data.Dataset, batch_size: int, seed: int, shuffle_buffer: int = 10000,
    padded: bool = False, drop_remainder: bool = False,
) -> Callable[[int], tf.data.Dataset]:
    """``epoch -> shuffled, batched, prefetched dataset`` with a per-epoch seed.

    ``padded=True`` zero-pads variable-length elements (e.g. whole waveforms) to the
    longest of their batch (``padded_batch``); ``drop_remainder`` drops a last, short
    batch (a contrastive batch of one clip has no negatives)."""

    def make(epoch: int) -> tf.data.Dataset:
        out = ds.shuffle(shuffle_buffer, seed=seed * 100003 + epoch, reshuffle_each_iteration=False)
        if padded:
            out = out.padded_batch(batch_size, drop_remainder=drop_remainder)
        else:
            out = out.batch(batch_size, drop_remainder=drop_remainder)
        return out.prefetch(tf.data.AUTOTUNE)

    return make
