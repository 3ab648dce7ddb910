"""Quality-Net compute cost per second of audio: TF (SavedModel path) vs TFLite.

Runs from the repository root::

    python benchmarks/quality_rtf.py                 # paper-size model, random weights
    python benchmarks/quality_rtf.py --model qn.tflite   # an exported model (TFLite only)

Both runtimes use ONE CPU thread (TF intra/inter-op threads = 1, set before any TF
op; ``Interpreter(num_threads=1)``).  For each clip length (default 1, 2, 5, 10,
20, 30 s of 16 kHz noise) the clip is run once to warm up (tracing / allocation),
then ``--repeats`` times.  The cost is the *CPU time* of the process (all its
threads; ``time.process_time``) of the fastest run divided by the clip duration:
milliseconds of compute per second of audio.  CPU time rather than wall time
because development machines and CI share their cores: under contention wall time
measures the neighbours, CPU time still measures this model.  The wall-clock
figure (fastest run) is reported next to it; on an idle machine the two agree.

The TF path is the serving ``tf.function`` of
:func:`tfaudio.systems.qualitynet.export.qualitynet_serving_module` (what a SavedModel
export runs).  The TFLite path is :func:`convert_qualitynet_tflite` (builtin ops
only, dynamic samples axis, resized per length).  Unless ``--no-quantized``, the
float16 and int8 dynamic-range variants are converted too and their score error
against the float TFLite model is reported.

The LAST line printed is one JSON object; ``tflite_ms_per_audio_s`` is the mean
over lengths.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SAMPLE_RATE = 16000


def _time_runs(fn, repeats: int):
    """(min CPU seconds, min wall seconds) over ``repeats`` runs after a warm-up."""
    fn()  # warm-up: tracing / tensor allocation
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a QualityNet .tflite file (skips the TF path)")
    parser.add_argument("--lengths", type=float, nargs="+", default=[1, 2, 5, 10, 20, 30],
                        help="clip lengths in seconds")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-quantized", action="store_true",
                        help="skip the float16 / int8 conversions")
    args = parser.parse_args(argv)

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from tfaudio.systems.qualitynet.export import convert_qualitynet_tflite, qualitynet_serving_module
    from tfaudio.systems.qualitynet.model import QualityNet, QualityNetConfig
    from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer

    rng = np.random.default_rng(args.seed)
    model = serving = None
    quantized = {}
    if args.model:
        with open(args.model, "rb") as f:
            tflite_bytes = f.read()
    else:
        import keras

        keras.utils.set_random_seed(args.seed)
        config = QualityNetConfig()  # paper size: BLSTM 100, dense 50/50
        model = QualityNet(config)
        model.build((None, None))
        serving = qualitynet_serving_module(model)
        t0 = time.perf_counter()
        tflite_bytes = convert_qualitynet_tflite(model)
        convert_s = time.perf_counter() - t0
        print(f"converted float32 TFLite model: {len(tflite_bytes) / 1e6:.2f} MB "
              f"in {convert_s:.1f} s", flush=True)
        if not args.no_quantized:
            for q in ("float16", "int8"):
                quantized[q] = convert_qualitynet_tflite(model, quantization=q)

    scorer = TFLiteQualityScorer(tflite_bytes, num_threads=1)
    q_scorers = {q: TFLiteQualityScorer(b, num_threads=1) for q, b in quantized.items()}

    rows = []
    for seconds in args.lengths:
        n = int(round(seconds * SAMPLE_RATE))
        clip = (0.1 * rng.standard_normal(n)).astype(np.float32)
        lite_cpu, lite_wall = _time_runs(lambda: scorer(clip), args.repeats)
        lite_score = scorer(clip)["score"]
        row = {
            "seconds": seconds,
            "tflite_ms_per_s": 1000 * lite_cpu / seconds,
            "tflite_wall_ms_per_s": 1000 * lite_wall / seconds,
        }
        if serving is not None:
            batch = tf.constant(clip[None, :])
            tf_cpu, tf_wall = _time_runs(lambda: serving.frame_scores(batch), args.repeats)
            tf_score = float(serving.frame_scores(batch)["score"][0])
            row.update(
                tf_ms_per_s=1000 * tf_cpu / seconds,
                tf_wall_ms_per_s=1000 * tf_wall / seconds,
                score_abs_diff=abs(tf_score - lite_score),
            )
        for q, qs in q_scorers.items():
            row[f"{q}_score_abs_diff"] = abs(qs(clip)["score"] - lite_score)
        rows.append(row)

    header = f"{'length s':>8} {'TFLite ms/s':>12} {'(wall)':>9}"
    if serving is not None:
        header += f" {'TF ms/s':>9} {'(wall)':>9} {'TF/TFLite':>9} {'|dQ| TF-lite':>12}"
    for q in q_scorers:
        header += f" {'|dQ| ' + q:>12}"
    print(header)
    for r in rows:
        line = f"{r['seconds']:>8g} {r['tflite_ms_per_s']:>12.3f} {r['tflite_wall_ms_per_s']:>9.3f}"
        if serving is not None:
            ratio = r["tf_ms_per_s"] / r["tflite_ms_per_s"]
            line += (f" {r['tf_ms_per_s']:>9.3f} {r['tf_wall_ms_per_s']:>9.3f}"
                     f" {ratio:>9.2f} {r['score_abs_diff']:>12.2e}")
        for q in q_scorers:
            line += f" {r[q + '_score_abs_diff']:>12.2e}"
        print(line)

    def by_length(key):
        return {f"{r['seconds']:g}": round(r[key], 4) for r in rows}

    result = {
        "tflite_ms_per_audio_s": round(statistics.mean(r["tflite_ms_per_s"] for r in rows), 4),
        "tflite_ms_per_audio_s_by_length": by_length("tflite_ms_per_s"),
        "tflite_wall_ms_per_audio_s_by_length": by_length("tflite_wall_ms_per_s"),
        "timing": "CPU time of the fastest of --repeats runs / clip seconds",
        "threads": 1,
        "model": args.model or "QualityNet paper size (BLSTM 100, dense 50/50), random weights",
    }
    if serving is not None:
        tf_mean = statistics.mean(r["tf_ms_per_s"] for r in rows)
        result.update(
            tf_ms_per_audio_s=round(tf_mean, 4),
            tf_ms_per_audio_s_by_length=by_length("tf_ms_per_s"),
            tf_wall_ms_per_audio_s_by_length=by_length("tf_wall_ms_per_s"),
            tf_over_tflite=round(tf_mean / result["tflite_ms_per_audio_s"], 3),
            max_abs_score_diff_tf_tflite=max(r["score_abs_diff"] for r in rows),
        )
    for q in q_scorers:
        result[f"{q}_max_abs_score_diff"] = max(r[f"{q}_score_abs_diff"] for r in rows)
        result[f"{q}_size_bytes"] = len(quantized[q])
    result["float32_size_bytes"] = len(tflite_bytes)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
