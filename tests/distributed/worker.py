"""One training process of the distributed tests: real systems' Tasks through ``core.fit``.

    python -m tests.distributed.worker ALGO RUN_DIR OUT.npz [--strategy S] [--logical-cpus N]
           [--epochs E] [--step-delay SECONDS] [--resume] [--data-service grpc://HOST:PORT]

ALGO ``all`` runs ``dfe`` then ``sed`` in one process (the same weights as each
alone: every ``fit`` seeds its own draws). ALGO ``dfe``: the two-stage DFE path (CNN-FC classifier, then the dynamic-mask
enhancer restored onto it: a multi-stage algorithm). ALGO ``sed``: the SED CRNN
with masked frame- and clip-level losses (a third of the frame labels and half the
clip labels missing) plus the diversity term of tri-training (two heads). Data are
small seeded arrays, so every process builds the same global batches. Dropout is 0:
each replica of a step would otherwise draw its own masks, a different (equally
valid) run than one device. Writes every trained weight to OUT.npz (chief and
non-chief alike) and prints examples/s of the last stage on its last line as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("algo", choices=("dfe", "sed", "all"))
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("--strategy", default="default")
    p.add_argument("--logical-cpus", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--examples", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--step-delay", type=float, default=0.0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--data-service")
    args = p.parse_args(argv)

    import tensorflow as tf

    if args.logical_cpus:  # before anything initialises the runtime
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    import numpy as np

    from tfaudio.config import merge
    from tfaudio.training import core

    strategy = core.make_strategy(args.strategy)
    n, bs = args.examples, args.batch_size
    delay = args.step_delay

    def slowed(make):
        """A pause per batch (the kill test needs time to land mid-epoch)."""
        if not delay:
            return make

        def wrapped(epoch):
            return make(epoch).map(lambda *b: (tf.py_function(lambda: time.sleep(delay), [], []), b)[1])

        return wrapped

    results = {}
    t0 = time.time()
    if args.algo in ("dfe", "all"):
        from tfaudio.systems.dfe import train as T
        from tfaudio.systems.dfe.config import DFEConfig

        frames, mels, classes = 12, 8, 3
        rng = np.random.default_rng(0)
        cfg = merge(DFEConfig(), {
            "model": {"num_classes": classes, "classifier_filters": [4, 4, 4, 4, 4], "classifier_dropout": 0.0,
                      "mask_filters": [4, 4, 4, 4, 1], "generator_filters": [4, 4, 4]},
            "train": {"batch_size": bs, "learning_rate": 0.01}})
        x = rng.standard_normal((n, frames, mels)).astype(np.float32)
        y = rng.integers(0, classes, n).astype(np.int32)
        data = tf.data.Dataset.from_tensor_slices((x, y))
        dev = tf.data.Dataset.from_tensor_slices((x[:8], y[:8]))
        train = slowed(core.seeded_batches(data, bs, seed=0))
        for stage, task in (("classifier", T.ClassifierTask(cfg, frames, mels)),
                            ("dfe", T.EnhancerTask(cfg, "dfe", args.run_dir, frames, mels))):
            t0 = time.time()
            core.fit(task, train, dev, os.path.join(args.run_dir, stage), epochs=args.epochs,
                     resume=args.resume, strategy=strategy, seed=0, progress=False,
                     data_service=args.data_service)
            for name, obj in task.best_items().items():
                for i, v in enumerate(obj.weights):
                    results[f"dfe/{stage}/{name}/{i}"] = np.asarray(v.numpy())
    if args.algo in ("sed", "all"):
        from tfaudio.systems.sed import train as T
        from tfaudio.systems.sed.config import SEDConfig

        frames, mels, classes = 16, 8, 3
        rng = np.random.default_rng(1)
        cfg = merge(SEDConfig(), {
            "model": {"filters": [4, 4], "pools": [[2, 2], [2, 2]], "dropout": 0.0, "gru_units": 4,
                      "gru_layers": 1, "head_units": 4, "domain_units": 4, "num_classes": classes},
            "train": {"batch_size": bs, "learning_rate": 0.01}})
        out_frames = frames // 4
        arrays = {
            "features": rng.standard_normal((n, frames, mels)).astype(np.float32),
            "frame_target": (rng.random((n, out_frames, classes)) < 0.3).astype(np.float32),
            "frame_mask": (rng.random((n, out_frames, classes)) < 0.67).astype(np.float32),
            "clip_target": (rng.random((n, classes)) < 0.4).astype(np.float32),
            "clip_mask": (rng.random((n, classes)) < 0.5).astype(np.float32),
            "domain": (rng.random(n) < 0.5).astype(np.float32),
        }
        data = tf.data.Dataset.from_tensor_slices(arrays)
        dev = tf.data.Dataset.from_tensor_slices(arrays).take(8).batch(8)
        train = slowed(core.seeded_batches(data, bs, seed=0))
        task = T.SEDTask(cfg, frames, mels, (np.zeros(mels), np.ones(mels)), heads=("1", "2", "t"),
                         diversity=True)
        task.monitor, task.monitor_mode = "dev_loss", "min"
        task.evaluate = lambda ds: {"dev_loss": float(np.mean([float(task.losses(b, training=False)["loss"])
                                                                 for b in ds]))}
        core.fit(task, train, dev, os.path.join(args.run_dir, "tri"), epochs=args.epochs, resume=args.resume,
                 strategy=strategy, seed=0, progress=False, data_service=args.data_service)
        for name, obj in task.best_items().items():
            for i, v in enumerate(obj.weights):
                results[f"sed/{name}/{i}"] = np.asarray(v.numpy())
    seconds = time.time() - t0
    np.savez(args.out, **results)
    print(json.dumps({"examples_per_second": n * args.epochs / seconds, "seconds": seconds,
                      "replicas": strategy.num_replicas_in_sync}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
