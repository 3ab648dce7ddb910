"""Benchmark: in-graph log-mel front-end (tfaudio.features) vs librosa.

The workload is the DFE front-end: 16 kHz, 4 s clips, Hamming window 512 / hop 256,
no centering (249 frames), power spectrogram -> 40 mel bands -> natural log ->
per-clip min-max to [0, 1].

* TF path: ``FeatureFrontend`` inside ``tf.function(reduce_retracing=True)``,
  batched (``--batch-size``), optionally XLA-compiled (``--jit``); the numpy batch
  goes in and the numpy result comes out, so host<->tensor copies are included.
* librosa path, clip by clip, the straightforward way:
  ``librosa.stft`` -> ``np.abs(...)**2`` -> mel basis (``librosa.filters.mel``,
  built once) ``@`` -> ``np.log(np.maximum(., 1e-10))`` -> min-max.  This is the
  *primary* baseline (``speedup_vs_librosa``).  The one-call form
  ``librosa.feature.melspectrogram(y=...)`` rebuilds the mel basis for every clip
  and is slower; it is reported as a second baseline.

Measurement: one warm-up pass per path, then ``--repeats`` rounds; in each round
every path processes all clips once, so background load hits all paths alike.
Throughput is the best round (clips / wall second); the median is printed too,
and so is the process CPU time per clip (all threads summed; robust to other load
on the machine: ``cpu_efficiency_vs_librosa`` = librosa CPU / TF CPU per clip).

BLAS threads are pinned to 1 (``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS``, unless set)
before numpy is imported: the librosa path only does a tiny 40x257 @ 257x249
matmul per clip, for which a multi-threaded OpenBLAS is slower (and on a busy
machine far slower, spin-waiting).  That favours librosa, so the speed-up is
conservative.  TF uses its own thread pools (``--tf-threads``, 0 = default).

Prints a small table, then (last line) one JSON object with the results.

    python benchmarks/frontend.py [--clips 256] [--batch-size 64] [--repeats 5]
                                  [--jit] [--tf-threads N] [--sweep]

``--sweep`` additionally times jit on/off x batch sizes 16/32/64/128 for the TF path.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # numpy's BLAS, not TF's pools
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import numpy as np  # noqa: E402

SAMPLE_RATE = 16000
CLIP_SECONDS = 4.0
FRAME_LENGTH = 512
FRAME_STEP = 256
NUM_MEL = 40
LOG_FLOOR = 1e-10
POWER = 2.0


def make_clips(num_clips: int, seed: int = 0) -> np.ndarray:
    """Deterministic float32 clips ``[num_clips, 64000]``: a random log chirp, a
    random tone and white noise at random levels (speech-like dynamic range)."""
    import scipy.signal

    rng = np.random.default_rng(seed)
    n = int(SAMPLE_RATE * CLIP_SECONDS)
    t = np.arange(n) / SAMPLE_RATE
    clips = np.empty((num_clips, n), np.float32)
    for i in range(num_clips):
        f0, f1 = rng.uniform(60, 400), rng.uniform(1000, 7500)
        chirp = scipy.signal.chirp(t, f0=f0, t1=t[-1], f1=f1, method="logarithmic")
        tone = np.sin(2 * np.pi * rng.uniform(100, 4000) * t + rng.uniform(0, 2 * np.pi))
        noise = rng.standard_normal(n)
        y = rng.uniform(0.05, 0.5) * chirp + rng.uniform(0, 0.3) * tone
        y += 10 ** rng.uniform(-3, -1) * noise
        clips[i] = y
    return clips


# ----------------------------------------------------------------------------
# librosa reference paths (clip by clip)
# ----------------------------------------------------------------------------
def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return (x - lo) / max(hi - lo, 1e-8)


def librosa_features(y: np.ndarray, mel_basis: np.ndarray) -> np.ndarray:
    """stft -> power -> mel (basis built once) -> log -> min-max, ``[frames, 40]``."""
    import librosa

    s = np.abs(librosa.stft(y, n_fft=FRAME_LENGTH, hop_length=FRAME_STEP,
                            window="hamming", center=False)) ** POWER
    logmel = np.log(np.maximum(mel_basis @ s, LOG_FLOOR))
    return _minmax(logmel).T


def librosa_features_onecall(y: np.ndarray) -> np.ndarray:
    """Same features via ``librosa.feature.melspectrogram(y=...)`` (rebuilds the mel
    basis per call)."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=FRAME_LENGTH, hop_length=FRAME_STEP,
        window="hamming", center=False, power=POWER, n_mels=NUM_MEL)
    return _minmax(np.log(np.maximum(mel, LOG_FLOOR))).T


# ----------------------------------------------------------------------------
# timing helpers
# ----------------------------------------------------------------------------
def _tf_runner(batch_size: int, jit: bool):
    import tensorflow as tf

    from tfaudio.features import FeatureFrontend

    frontend = FeatureFrontend(
        sample_rate=SAMPLE_RATE, frame_length=FRAME_LENGTH, frame_step=FRAME_STEP,
        window="hamming", power=POWER, num_mel_bins=NUM_MEL, log="natural",
        log_floor=LOG_FLOOR, normalization="minmax")
    fn = tf.function(frontend, reduce_retracing=True, jit_compile=jit)

    def run(clips: np.ndarray) -> np.ndarray:
        outs = [fn(clips[i:i + batch_size]).numpy()
                for i in range(0, len(clips), batch_size)]
        return np.concatenate(outs)

    return run


def _librosa_runner(onecall: bool):
    import librosa

    mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=FRAME_LENGTH, n_mels=NUM_MEL)

    def run(clips: np.ndarray) -> np.ndarray:
        if onecall:
            return np.stack([librosa_features_onecall(y) for y in clips])
        return np.stack([librosa_features(y, mel_basis) for y in clips])

    return run


def measure(runners: dict, clips: np.ndarray, repeats: int) -> dict:
    """Interleaved timing.

    Returns ``{name: {"best": clips/s, "median": clips/s, "cpu_ms": ms, "rounds": [...]}}``;
    ``rounds`` lists the per-round clips/s.
    ``cpu_ms`` is the smallest process CPU time per clip over the rounds (all
    threads summed) -- much less sensitive to other load on the machine than wall
    time, and a per-core efficiency measure.
    """
    wall = {name: [] for name in runners}
    cpu = {name: [] for name in runners}
    for run in runners.values():  # warm-up (tracing, caches, FFT plans)
        run(clips[: min(len(clips), 128)])
    for _ in range(repeats):
        for name, run in runners.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run(clips)
            wall[name].append(len(clips) / (time.perf_counter() - start))
            cpu[name].append((time.process_time() - start_cpu) * 1e3 / len(clips))
    return {name: {"best": max(wall[name]), "median": statistics.median(wall[name]),
                   "cpu_ms": min(cpu[name]), "rounds": wall[name]}
            for name in runners}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=256, help="number of 4 s clips")
    parser.add_argument("--batch-size", type=int, default=64, help="TF batch size")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the TF path")
    parser.add_argument("--tf-threads", type=int, default=0,
                        help="TF intra/inter-op threads (0 = TF default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true",
                        help="also time TF variants (jit x batch size)")
    args = parser.parse_args(argv)

    import librosa
    import tensorflow as tf

    if args.tf_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.tf_threads)

    clips = make_clips(args.clips, args.seed)

    # parity first (also a warm-up)
    tf_run = _tf_runner(args.batch_size, args.jit)
    lib_run = _librosa_runner(onecall=False)
    tf_feats = tf_run(clips)
    lib_feats = lib_run(clips)
    onecall_feats = _librosa_runner(onecall=True)(clips[:8])
    assert tf_feats.shape == lib_feats.shape == (args.clips, 249, NUM_MEL), tf_feats.shape
    max_abs_error = float(np.max(np.abs(tf_feats - lib_feats)))
    mean_abs_error = float(np.mean(np.abs(tf_feats - lib_feats)))
    onecall_diff = float(np.max(np.abs(onecall_feats - lib_feats[:8])))

    runners = {
        "tf": tf_run,
        "librosa": lib_run,
        "librosa_melspectrogram": _librosa_runner(onecall=True),
    }
    sweep = {}
    if args.sweep:
        for jit in (False, True):
            for bs in (16, 32, 64, 128):
                if (jit, bs) != (args.jit, args.batch_size):
                    runners[f"tf jit={int(jit)} bs={bs}"] = _tf_runner(bs, jit)
    timing = measure(runners, clips, args.repeats)

    tf_cps = timing["tf"]["best"]
    lib_cps = timing["librosa"]["best"]
    onecall_cps = timing["librosa_melspectrogram"]["best"]
    tf_label = f"tf FeatureFrontend (batch {args.batch_size}, jit={int(args.jit)})"
    rows = [(tf_label, timing["tf"]),
            ("librosa stft+mel+log+minmax (per clip)", timing["librosa"]),
            ("librosa feature.melspectrogram (per clip)", timing["librosa_melspectrogram"])]
    rows += [(name, t) for name, t in timing.items() if name.startswith("tf ")]

    print(f"log-mel front-end: {args.clips} clips x {CLIP_SECONDS:g} s @ {SAMPLE_RATE} Hz, "
          f"Hamming {FRAME_LENGTH}/{FRAME_STEP}, {NUM_MEL} mel, log, min-max; "
          f"{args.repeats} rounds; {os.cpu_count()} CPUs; TF {tf.__version__}, "
          f"librosa {librosa.__version__}")
    print(f"{'path':48s} {'best clips/s':>13s} {'median':>9s} {'vs librosa':>11s} "
          f"{'CPU ms/clip':>12s}")
    for name, t in rows:
        print(f"{name:48s} {t['best']:13.1f} {t['median']:9.1f} {t['best'] / lib_cps:10.2f}x "
              f"{t['cpu_ms']:12.3f}")
    paired = statistics.median(
        t / l for t, l in zip(timing["tf"]["rounds"], timing["librosa"]["rounds"]))
    print(f"speed-up vs librosa: best/best {tf_cps / lib_cps:.2f}x, same-round median "
          f"{paired:.2f}x, CPU-time per clip {timing['librosa']['cpu_ms'] / timing['tf']['cpu_ms']:.2f}x")
    print(f"parity TF vs librosa: max abs error {max_abs_error:.3g}, mean {mean_abs_error:.3g} "
          f"(features in [0, 1]); librosa one-call vs stft path: {onecall_diff:.3g}")

    if args.sweep:
        sweep = {name: round(t["best"], 1) for name, t in timing.items()
                 if name.startswith("tf ")}
    result = {
        "speedup_vs_librosa": round(tf_cps / lib_cps, 3),
        "speedup_vs_librosa_melspectrogram": round(tf_cps / onecall_cps, 3),
        "max_abs_error": max_abs_error,
        "mean_abs_error": mean_abs_error,
        "tf_clips_per_s": round(tf_cps, 1),
        "librosa_clips_per_s": round(lib_cps, 1),
        "librosa_melspectrogram_clips_per_s": round(onecall_cps, 1),
        "tf_cpu_ms_per_clip": round(timing["tf"]["cpu_ms"], 4),
        "librosa_cpu_ms_per_clip": round(timing["librosa"]["cpu_ms"], 4),
        "cpu_efficiency_vs_librosa": round(
            timing["librosa"]["cpu_ms"] / timing["tf"]["cpu_ms"], 3),
        # same-round TF/librosa ratios, median over rounds: the most load-robust
        "speedup_vs_librosa_paired_median": round(paired, 3),
        "tf_clips_per_s_median": round(timing["tf"]["median"], 1),
        "librosa_clips_per_s_median": round(timing["librosa"]["median"], 1),
        "clips": args.clips,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "jit_compile": bool(args.jit),
        "tf_threads": args.tf_threads,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,
    }
    if sweep:
        result["sweep_clips_per_s"] = sweep
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
