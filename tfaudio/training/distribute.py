"""Distribution for the training loop: the strategy a ``--strategy`` name gives, the
cluster ``TF_CONFIG`` must describe, which process writes the run directory, and the
loss share of one replica (so that summed over replicas it is one device's loss).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import tensorflow as tf


def replica_count() -> int:
    """Replicas whose gradients are summed in the current step (1 outside a strategy)."""
    ctx = tf.distribute.get_replica_context()
    return ctx.num_replicas_in_sync if ctx is not None else 1


def replica_loss(per_example_loss: tf.Tensor, weights: Optional[tf.Tensor] = None) -> tf.Tensor:
    """This replica's share of the mean loss over the *global* batch: summed over the
    replicas (as their gradients are) it is the loss of one device seeing the whole
    batch.

    ``per_example_loss`` has any shape (one value per example, frame, class ...);
    ``weights`` (same shape, e.g. a 0/1 mask of the labelled frames) makes it a
    weighted mean (0 when nothing is weighted). With one replica this is the plain
    (weighted) mean. With several, the denominator (element count or weight sum) is
    summed over all replicas first, so uneven splits (the last partial batch) and
    masks that label different amounts per replica give the single-device loss too.
    """
    n = replica_count()
    if weights is None:
        if n == 1:
            return tf.reduce_mean(per_example_loss)
        total = tf.reduce_sum(per_example_loss)
        count = tf.cast(tf.size(per_example_loss), per_example_loss.dtype)
    else:
        weights = tf.cast(weights, per_example_loss.dtype)
        total = tf.reduce_sum(per_example_loss * weights)
        count = tf.reduce_sum(weights)
    if n > 1:
        count = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)
    return total / tf.maximum(count, tf.constant(1e-12 if weights is None else 1.0, total.dtype))


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """``default`` (one device), ``mirrored`` (every local GPU; without GPUs every
    logical CPU device, which is one unless configured) or ``multiworker`` (the
    cluster in ``TF_CONFIG``; see README "Scaling out and serving")."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
            [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r} (default, mirrored, multiworker)")


def check_tf_config() -> dict:
    """The cluster in ``TF_CONFIG`` (what ``--strategy multiworker`` needs), or a
    :class:`ConfigError` saying what is missing."""
    import os

    from tfaudio.errors import ConfigError

    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("--strategy multiworker needs TF_CONFIG (the cluster and this worker's "
                          "task); see README, 'Scaling out and serving'")
    try:
        cluster = json.loads(raw)
        workers = cluster["cluster"].get("worker", [])
        kind, index = cluster["task"]["type"], int(cluster["task"]["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"TF_CONFIG is not a cluster description ({exc!r}); expected "
                          f'{{"cluster": {{"worker": ["host:port", ...]}}, '
                          f'"task": {{"type": "worker", "index": 0}}}}') from None
    if kind == "worker" and not 0 <= index < len(workers):
        raise ConfigError(f"TF_CONFIG: task index {index} is not one of the {len(workers)} workers")
    return cluster


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory (always, except on the non-chief
    workers of a multi-worker job)."""
    return bool(getattr(strategy.extended, "should_checkpoint", True))


class WorkerSaver:
    """A checkpoint manager that writes where this process may write.

    The chief saves into the run directory. The other workers of a multi-worker job
    take part in every save (saving may need collective ops) but into a temporary
    folder that is deleted at once, so the run directory holds one writer's files.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: Path, max_to_keep: int, chief: bool):
        self.checkpoint, self.chief = checkpoint, chief
        self.manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=max_to_keep)

    def save(self, checkpoint_number: int) -> None:
        if self.chief:
            self.manager.save(checkpoint_number=checkpoint_number)
            return
        import shutil
        import tempfile

        tmp = tempfile.mkdtemp(prefix="tfaudio-worker-ckpt-")
        try:
            tf.train.CheckpointManager(self.checkpoint, tmp, max_to_keep=1).save(
                checkpoint_number=checkpoint_number)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def multi_worker_mode(strategy: tf.distribute.Strategy) -> bool:
    return bool(getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())
