"""Training throughput of COLA pretraining, and its cost against a plain supervised step.

Both are the real ``train_step`` of the system's tasks, on the same encoder
(EfficientNet-B0 by default), inside ``tf.function``, on random 2 s waveforms:

* contrastive: :class:`tfaudio.systems.cola.train.PretrainTask` with B clips -> B
  anchors + B positives through the encoder (crops, front-end, loss, Adam);
* supervised: :class:`tfaudio.systems.cola.train.DownstreamTask` in ``finetune``
  mode with 2B clips -> 2B crops through the same encoder + a linear layer.

So both push 2B segments through the encoder; the ratio (contrastive / supervised
time per step) is what the pair sampling, projection head and B x B similarity cost
on top. Goal: <= 1.1.

    python benchmarks/cola_step.py [--batch-sizes 16 32] [--steps 3] [--width 1.0]

Last line: one JSON object.
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
from tfaudio.config import merge  # noqa: E402
from tfaudio.systems.cola import train as T  # noqa: E402
from tfaudio.systems.cola.config import ColaConfig  # noqa: E402


def seconds_per_step(task, batch, steps: int, repeats: int) -> float:
    task.build()
    task.seed = 0
    task.epoch_counter = tf.Variable(0, dtype=tf.int64)
    task.step_counter = tf.Variable(0, dtype=tf.int64)
    return best_seconds_per_step(tf.function(task.train_step), (batch,), steps, repeats)


def waves(n: int, seconds: float = 2.0):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((n, int(16000 * seconds)))).astype(np.float32)
    return {"waveform": tf.constant(x), "length": tf.fill([n], tf.constant(x.shape[1], tf.int64)),
            "label": tf.constant(rng.integers(0, 10, n).astype(np.int32))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", type=int, nargs=2, default=(16, 32))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--width", type=float, default=1.0, help="EfficientNet width (1.0: B0)")
    ap.add_argument("--depth", type=float, default=1.0, help="EfficientNet depth (1.0: B0)")
    a = ap.parse_args()
    cfg = merge(ColaConfig(), {"model": {"width": a.width, "depth": a.depth}})
    result = {"encoder": f"efficientnet w{a.width} d{a.depth}", "steps": a.steps, "repeats": a.repeats}
    for b in a.batch_sizes:
        contrastive = seconds_per_step(T.PretrainTask(cfg), waves(b), a.steps, a.repeats)
        result[f"pretrain_examples_per_s_b{b}"] = round(b / contrastive, 2)
        print(f"contrastive step, batch {b:4d} pairs: {contrastive * 1000:8.1f} ms  {b / contrastive:7.2f} pairs/s")
    b = a.batch_sizes[0]
    contrastive = b / result[f"pretrain_examples_per_s_b{b}"]
    supervised = seconds_per_step(T.DownstreamTask(cfg, "finetune", 10), waves(2 * b), a.steps, a.repeats)
    ratio = contrastive / supervised
    print(f"supervised step, batch {2 * b:4d} clips: {supervised * 1000:8.1f} ms (same {2 * b} encoder segments)")
    print(f"contrastive / supervised = {ratio:.3f}")
    result.update({"supervised_ms_per_step": round(1000 * supervised, 1),
                   "contrastive_ms_per_step": round(1000 * contrastive, 1),
                   "contrastive_over_supervised": round(ratio, 3)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
