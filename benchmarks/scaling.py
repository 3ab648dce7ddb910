"""Scaling out: training examples/s with 1 and 2 local workers, input examples/s with
and without the tf.data service.

Training: the real DFE classifier task (:class:`tfaudio.systems.dfe.train.ClassifierTask`,
the embedded recipe's model on random features of its shape) through ``core.fit``,
once in one process (default strategy) and once as a two-worker
``MultiWorkerMirroredStrategy`` job on loopback (two processes, ``TF_CONFIG`` each)
with the same global batch. Examples/s counts the epochs after the first (which
traces the step). On one 2-core machine the two workers share the cores, so the
ratio shows the cost of the collective ops rather than a speed-up from more hardware.

Input: a DFE-like pipeline (waveforms -> log-mel features in the project's front-end
layer -> batches) read directly, and through a tf.data service (an in-process
dispatcher and two workers, ``distributed_epoch``) on the same machine: the ratio is
the service's overhead when it brings no extra machines.

    python benchmarks/scaling.py [--examples 256] [--epochs 3] [--batch-size 32]

Last line: one JSON object.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def train_worker(a) -> None:
    """One training process; prints {"examples_per_second": ...} as its last line."""
    import numpy as np
    import tensorflow as tf

    from tfaudio.config import from_dict, load_recipe, merge
    from tfaudio.systems.dfe import train as T
    from tfaudio.systems.dfe.config import DFEConfig
    from tfaudio.systems.dfe.data import make_frontend
    from tfaudio.training import core

    cfg = from_dict(DFEConfig, load_recipe("dfe/embedded"))
    frontend = make_frontend(cfg.frontend)
    frames = frontend.num_frames(int(round(cfg.data.clip_seconds * cfg.frontend.sample_rate)))
    mels = cfg.frontend.num_mel_bins
    cfg = merge(cfg, {"model": {"num_classes": 10}, "train": {"batch_size": a.batch_size}})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.examples, frames, mels)).astype(np.float32)
    y = rng.integers(0, 10, a.examples).astype(np.int32)
    strategy = core.make_strategy(a.strategy)
    task = T.ClassifierTask(cfg, frames, mels)
    result = core.fit(task, core.seeded_batches(tf.data.Dataset.from_tensor_slices((x, y)), a.batch_size, 0),
                      None, a.run_dir, epochs=a.epochs, strategy=strategy, progress=False)
    later = [r["seconds"] for r in result.history[1:]]
    print(json.dumps({"examples_per_second": a.examples * len(later) / sum(later),
                      "replicas": strategy.num_replicas_in_sync}))


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_training(a, workers: int) -> float:
    tmp = tempfile.mkdtemp(prefix="tfaudio-scaling-")
    base = [sys.executable, os.path.abspath(__file__), "--train-worker", "--run-dir", os.path.join(tmp, "run"),
            "--examples", str(a.examples), "--epochs", str(a.epochs), "--batch-size", str(a.batch_size)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if workers == 1:
        procs = [subprocess.Popen(base + ["--strategy", "default"], stdout=subprocess.PIPE, text=True, env=env)]
    else:
        ports = free_ports(workers)
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        procs = [subprocess.Popen(base + ["--strategy", "multiworker"], stdout=subprocess.PIPE, text=True,
                                  env=dict(env, TF_CONFIG=json.dumps({"cluster": cluster,
                                                                      "task": {"type": "worker", "index": i}})))
                 for i in range(workers)]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a training worker failed: {[p.returncode for p in procs]}")
    return json.loads(outs[0].strip().splitlines()[-1])["examples_per_second"]


def input_rates(a):
    import tensorflow as tf

    from tfaudio.cli.data_service import build_parser, start
    from tfaudio.config import from_dict, load_recipe
    from tfaudio.data import service
    from tfaudio.systems.dfe.config import DFEConfig
    from tfaudio.systems.dfe.data import make_frontend

    cfg = from_dict(DFEConfig, load_recipe("dfe/embedded"))
    n = int(round(cfg.data.clip_seconds * cfg.frontend.sample_rate))
    frontend = make_frontend(cfg.frontend)

    def pipeline():
        # clip i: seeded noise made in the graph (a splittable source, a small graph to ship)
        ds = tf.data.Dataset.range(a.input_examples).map(
            lambda i: 0.1 * tf.random.stateless_normal([n], seed=tf.stack([i, tf.constant(0, tf.int64)])))
        ds = ds.batch(16).map(lambda w: frontend(w), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.unbatch().batch(a.batch_size)

    def rate(make):
        """(steady examples/s after the first batch, seconds to the first batch)."""
        for _ in make():  # warm up (tracing, service registration)
            pass
        t0 = time.perf_counter()
        it = iter(make())
        next(it)
        t1 = time.perf_counter()
        count = sum(int(b.shape[0]) for b in it)
        return count / (time.perf_counter() - t1), t1 - t0

    local = rate(pipeline)
    dispatcher = start(build_parser().parse_args(["dispatcher", "--port", "0"]))
    workers = [start(build_parser().parse_args(["worker", "--dispatcher", dispatcher.target])) for _ in range(2)]
    served = rate(lambda: service.distribute(pipeline(), dispatcher.target, "distributed_epoch"))
    for w in workers:
        w._stop()
    dispatcher._stop()
    return local, served


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=256, help="training examples per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs (the first is not timed)")
    ap.add_argument("--batch-size", type=int, default=32, help="global batch")
    ap.add_argument("--input-examples", type=int, default=4096, help="clips through the input pipeline")
    ap.add_argument("--train-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--strategy", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.train_worker:
        return train_worker(a)
    one = run_training(a, 1)
    two = run_training(a, 2)
    (local, local_first), (served, served_first) = input_rates(a)
    print(f"training (DFE classifier, global batch {a.batch_size}): 1 worker {one:8.1f} ex/s, "
          f"2 workers {two:8.1f} ex/s, 2/1 = {two / one:.2f}")
    print(f"input (waveform -> log-mel, batch {a.batch_size}, after the first batch): local {local:8.1f} ex/s, "
          f"tf.data service (2 workers, same host) {served:8.1f} ex/s, service/local = {served / local:.2f}; "
          f"first batch after {local_first:.2f} s locally, {served_first:.2f} s through the service")
    print(json.dumps({"train_1_worker_examples_per_s": round(one, 1), "train_2_workers_examples_per_s": round(two, 1),
                      "train_2_over_1": round(two / one, 3), "input_local_examples_per_s": round(local, 1),
                      "input_service_examples_per_s": round(served, 1),
                      "input_service_over_local": round(served / local, 3),
                      "input_first_batch_s_local": round(local_first, 3),
                      "input_first_batch_s_service": round(served_first, 3)}))


if __name__ == "__main__":
    main()
