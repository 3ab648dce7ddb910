"""Training throughput of the SED baseline step vs the tri-training + adversarial step.

Both are the real ``train_step`` of :class:`tfaudio.systems.sed.train.SEDTask` at the
same batch: the baseline trains F + Ft; tri-training phase 1 with ``--adversarial
time`` trains F + F1 + F2 + Ft + D with the diversity term (the most expensive step
of the system). Features of the recipe's shape are random; the ratio is what matters.

    python benchmarks/sed_step.py [--recipe sed/embedded] [--batch-size 16] [--steps 5]

Last line: one JSON object (clips/s of both steps and their ratio).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _timing import best_seconds_per_step  # noqa: E402
from tfaudio.config import from_dict, load_recipe, merge  # noqa: E402
from tfaudio.systems.sed import model as M  # noqa: E402
from tfaudio.systems.sed import train as T  # noqa: E402
from tfaudio.systems.sed.config import SEDConfig  # noqa: E402


def clips_per_second(cfg: SEDConfig, heads, adversarial: str, diversity: bool, batch: int, steps: int,
                     repeats: int) -> float:
    fe = cfg.frontend
    frames = M.make_frontend(fe).num_frames(int(round(cfg.data.clip_seconds * fe.sample_rate)))
    mels, K = fe.num_mel_bins, cfg.model.num_classes
    task = T.SEDTask(cfg, frames, mels, (np.zeros(mels), np.ones(mels)), heads, adversarial, diversity)
    task.build()
    task.seed, task.steps_per_epoch, task.total_steps = 0, 100, 1000
    task.epoch_counter = tf.Variable(0, dtype=tf.int64)
    task.step_counter = tf.Variable(0, dtype=tf.int64)
    out = M.output_frames(frames, cfg.model)
    rng = np.random.default_rng(0)
    half = np.repeat([1.0, 0.0], [batch // 2, batch - batch // 2]).astype(np.float32)
    batch_data = {
        "features": tf.constant(rng.standard_normal((batch, frames, mels)).astype(np.float32)),
        "frame_target": tf.constant((rng.random((batch, out, K)) < 0.1).astype(np.float32)),
        "frame_mask": tf.constant(np.broadcast_to(half[:, None, None], (batch, out, K)).copy()),
        "clip_target": tf.constant((rng.random((batch, K)) < 0.2).astype(np.float32)),
        "clip_mask": tf.ones([batch, K]),
        "domain": tf.constant(1.0 - half),
    }
    return batch / best_seconds_per_step(tf.function(task.train_step), (batch_data,), steps, repeats)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="sed/embedded", help="recipe giving the feature and model shapes")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    cfg = merge(from_dict(SEDConfig, load_recipe(a.recipe)), {"model": {"dropout": 0.0}})
    base = clips_per_second(cfg, ("t",), "none", False, a.batch_size, a.steps, a.repeats)
    tri = clips_per_second(cfg, ("1", "2", "t"), "time", True, a.batch_size, a.steps, a.repeats)
    print(f"{a.recipe}: batch {a.batch_size}, best of {a.repeats} x {a.steps} steps")
    print(f"{'baseline step (F + Ft)':44s} {base:8.1f} clips/s")
    print(f"{'tri-training + adversarial (time) step':44s} {tri:8.1f} clips/s")
    print(f"baseline / tri+adv = {base / tri:.2f}")
    print(json.dumps({"recipe": a.recipe, "batch_size": a.batch_size, "baseline_clips_per_s": round(base, 1),
                      "tri_adv_clips_per_s": round(tri, 1), "baseline_over_tri_adv": round(base / tri, 3)}))


if __name__ == "__main__":
    main()
