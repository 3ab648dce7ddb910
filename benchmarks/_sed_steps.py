"""The SED training step, built once for the SED benchmarks.

``task_step(cfg, heads, adversarial, diversity, batch)`` returns what ``sed_step.py``
and ``sed_peer.py`` time: the compiled real ``train_step`` of
:class:`tfaudio.systems.sed.train.SEDTask` (Adam, masked BCE on frame and clip
outputs), a fixed random batch of the recipe's feature shape (the first half of it
frame-labelled, as synthetic clips are; every clip weakly labelled) and the task.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def feature_shape(cfg):
    """``(frames, mels, output frames, classes)`` of a SED config."""
    from tfaudio.systems.sed import model as M

    fe = cfg.frontend
    frames = M.make_frontend(fe).num_frames(int(round(cfg.data.clip_seconds * fe.sample_rate)))
    return frames, fe.num_mel_bins, M.output_frames(frames, cfg.model), cfg.model.num_classes


def random_batch(cfg, batch: int, seed: int = 0) -> dict:
    """A batch of the recipe's shapes as numpy arrays (features, targets, masks, domain)."""
    import numpy as np

    frames, mels, out, k = feature_shape(cfg)
    rng = np.random.default_rng(seed)
    half = np.repeat([1.0, 0.0], [batch // 2, batch - batch // 2]).astype(np.float32)
    return {
        "features": rng.standard_normal((batch, frames, mels)).astype(np.float32),
        "frame_target": (rng.random((batch, out, k)) < 0.1).astype(np.float32),
        "frame_mask": np.broadcast_to(half[:, None, None], (batch, out, k)).copy(),
        "clip_target": (rng.random((batch, k)) < 0.2).astype(np.float32),
        "clip_mask": np.ones((batch, k), np.float32),
        "domain": 1.0 - half,
    }


def task_step(cfg, heads=("t",), adversarial: str = "none", diversity: bool = False, batch: int = 16):
    """``(step, batch_data, task)``; ``step(batch_data)`` runs one training step."""
    import numpy as np
    import tensorflow as tf

    from tfaudio.systems.sed import train as T

    frames, mels, _, _ = feature_shape(cfg)
    task = T.SEDTask(cfg, frames, mels, (np.zeros(mels), np.ones(mels)), heads, adversarial, diversity)
    task.build()
    task.seed, task.steps_per_epoch, task.total_steps = 0, 100, 1000
    task.epoch_counter = tf.Variable(0, dtype=tf.int64)
    task.step_counter = tf.Variable(0, dtype=tf.int64)
    data = {k: tf.constant(v) for k, v in random_batch(cfg, batch).items()}
    return tf.function(task.train_step), data, task
