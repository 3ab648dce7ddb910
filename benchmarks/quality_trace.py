"""Quality-Net training-step tracing cost with batch 1 (the paper recipe).

With batch 1 every step has another ``[1, samples]`` shape.  This compares how
the training step is compiled:

* ``plain``: ``tf.function`` without options (a new trace per new length);
* ``reduce_retracing``: ``tf.function(reduce_retracing=True)`` (one trace for the
  first shape, one more with a relaxed shape, then none);
* ``signature``: an ``input_signature`` with ``None`` batch and samples axes (one trace);
* ``signature_b1``: the same with the batch axis fixed at 1: what
  :func:`tfaudio.training.core.fit` compiles (it uses the data's element spec, and
  Quality-Net's batches declare a batch size all batches share).

Each variant runs the same sequence of step lengths (default 2.0, 3.1, 2.6, 3.9,
2.2, 3.3 s, then the first again) on the paper-size model (the ``qualitynet/timit``
recipe) and reports, per step, wall and CPU seconds, and the number of traces.
Run from the repository root::

    python benchmarks/quality_trace.py

The LAST line printed is one JSON object.  On a shared machine trust the CPU
times (``time.process_time``, all threads of this process) more than wall times.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, nargs="+", default=[2.0, 3.1, 2.6, 3.9, 2.2, 3.3, 2.0])
    p.add_argument("--variants", nargs="+", default=["plain", "reduce_retracing", "signature", "signature_b1"])
    p.add_argument("--recipe", default="qualitynet/timit")
    args = p.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    from tfaudio.config import from_dict, load_recipe
    from tfaudio.systems.qualitynet import train as T

    cfg = T.resolve_config(from_dict(T.QualityNetRunConfig, load_recipe(args.recipe)))
    rng = np.random.default_rng(0)
    batches = []
    for s in args.seconds:
        n = int(s * cfg.model.sample_rate)
        batches.append({"waveform": tf.constant(0.1 * rng.standard_normal((1, n)), tf.float32),
                        "length": tf.constant([n], tf.int32),
                        "score": tf.constant([3.0], tf.float32),
                        "index": tf.constant([0], tf.int32)})
    spec = {"waveform": tf.TensorSpec([None, None], tf.float32),
            "length": tf.TensorSpec([None], tf.int32),
            "score": tf.TensorSpec([None], tf.float32),
            "index": tf.TensorSpec([None], tf.int32)}
    results = {}
    for variant in args.variants:
        task = T.QualityNetTask(cfg)
        task.build()
        if variant == "plain":
            fn = tf.function(task.train_step)
        elif variant == "reduce_retracing":
            fn = tf.function(task.train_step, reduce_retracing=True)
        elif variant == "signature":
            fn = tf.function(task.train_step, input_signature=[spec])
        elif variant == "signature_b1":  # batch axis fixed at 1, samples axis None
            fn = tf.function(task.train_step, input_signature=[{
                k: tf.TensorSpec([1] + v.shape.as_list()[1:], v.dtype) for k, v in spec.items()}])
        else:
            raise SystemExit(f"unknown variant {variant!r}")
        steps = []
        for batch in batches:
            w0, c0 = time.perf_counter(), time.process_time()
            out = fn(batch)
            float(out["loss"])
            steps.append({"seconds_audio": round(int(batch["length"][0]) / cfg.model.sample_rate, 2),
                          "wall_s": round(time.perf_counter() - w0, 3),
                          "cpu_s": round(time.process_time() - c0, 3),
                          "traces_so_far": int(fn.experimental_get_tracing_count())})
        results[variant] = {"steps": steps, "traces": int(fn.experimental_get_tracing_count()),
                            "wall_s_total": round(sum(s["wall_s"] for s in steps), 2),
                            "cpu_s_total": round(sum(s["cpu_s"] for s in steps), 2)}
        print(f"{variant:>17}: {results[variant]['traces']} trace(s), "
              f"{results[variant]['wall_s_total']:.1f} s wall / {results[variant]['cpu_s_total']:.1f} s CPU "
              f"for {len(steps)} steps; per step wall: {[s['wall_s'] for s in steps]}", flush=True)
    print(json.dumps({"recipe": args.recipe, "seconds": args.seconds, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
