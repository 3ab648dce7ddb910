"""Streaming Quality-Net: CPU cost per audio second and peak memory of a long stream,
one thread, against whole-file TFLite scoring of the same audio in the same run.

    python benchmarks/quality_stream.py                  # the shipped model, 60 minutes
    python benchmarks/quality_stream.py --minutes 1      # quick
    python benchmarks/quality_stream.py --model DIR      # another export's model_stream.tflite

Each measurement runs in its own process (so its peak RSS is its own) with LiteRT at
one thread: (1) ``model_stream.tflite`` fed 0.1 s chunks of a synthetic speech-like
signal generated on the fly (nothing the length of the stream is ever held), default
look-ahead and step (512 and 64 frames, as ``tfaudio-score --stream``); (2) ``model.tflite`` on the first ``--reference-s``
seconds as one whole file. Cost = process CPU time / audio seconds. The last line is
one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tfaudio.systems.qualitynet import streaming as S  # noqa: E402  (no TensorFlow)

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
mode, folder, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
lookahead, hop = int(sys.argv[5]), int(sys.argv[6])
SR = 16000

def speech(i0, n):
    t = (np.arange(i0, i0 + n) / SR)
    f0 = 140 * (1 + 0.1 * np.sin(2 * np.pi * 0.3 * t))
    x = np.sin(2 * np.pi * np.cumsum(f0) / SR) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    noise = np.random.default_rng(i0).standard_normal(n)
    return (0.2 * x + 0.01 * noise).astype(np.float32)

c0, w0 = time.process_time(), time.perf_counter()
if mode == "stream":
    from tfaudio.systems.qualitynet import streaming as S
    path = f"{folder}/model_stream.tflite"
    cfg = json.load(open(f"{folder}/export.json"))["config"]["model"]
    scorer = S.StreamingScorer(S.tflite_step(path, 1), S.units_of_tflite(path),
                               lookahead=lookahead, hop=hop, chunk=int(cfg["lstm_chunk"]))
    load_cpu = time.process_time() - c0
    c0 = time.process_time()
    n, step, frames = int(seconds * SR), SR // 10, 0
    for i in range(0, n, step):
        frames += scorer.feed(speech(i, min(step, n - i))).size
    frames += scorer.finish().size
else:
    from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer
    s = TFLiteQualityScorer(f"{folder}/model.tflite", num_threads=1)
    x = speech(0, int(seconds * SR))
    load_cpu = time.process_time() - c0
    c0 = time.process_time()
    frames = s(x)["frame_scores"].size
cpu = time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"mode": mode, "seconds": seconds, "cpu_s": cpu, "load_cpu_s": load_cpu,
                  "wall_s": time.perf_counter() - w0, "frames": frames, "peak_rss_mib": peak}))
"""


def run(mode: str, folder: Path, seconds: float, lookahead: int = 0, hop: int = 0) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), mode, str(folder), str(seconds),
                          str(lookahead), str(hop)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="an export version folder (default: the shipped model)")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--reference-s", type=float, default=60.0)
    p.add_argument("--lookahead", type=int, default=S.DEFAULT_LOOKAHEAD, metavar="FRAMES",
                   help="look-ahead in 16 ms frames (default %(default)s, tfaudio-score's)")
    p.add_argument("--hop", type=int, default=S.DEFAULT_HOP, metavar="FRAMES",
                   help="frames scored per step (default %(default)s)")
    a = p.parse_args(argv)
    if a.model:
        folder = Path(a.model)
    else:
        from tfaudio.systems.qualitynet.shipped import shipped_dir

        folder = shipped_dir()
        if folder is None:
            print("quality_stream: no shipped model in this install; pass --model DIR", file=sys.stderr)
            sys.exit(2)
    stream = run("stream", folder, a.minutes * 60.0, a.lookahead, a.hop)
    ref = run("whole", folder, a.reference_s)
    s_ms = 1000 * stream["cpu_s"] / stream["seconds"]
    r_ms = 1000 * ref["cpu_s"] / ref["seconds"]
    print(f"stream {a.minutes:g} min (look-ahead {a.lookahead}, step {a.hop} frames): {s_ms:.2f} ms CPU per audio s, peak RSS "
          f"{stream['peak_rss_mib']:.0f} MiB, {stream['frames']} frames")
    print(f"whole file {a.reference_s:g} s: {r_ms:.2f} ms CPU per audio s, peak RSS "
          f"{ref['peak_rss_mib']:.0f} MiB")
    print(f"stream / whole-file cost: {s_ms / r_ms:.2f}")
    result = {"benchmark": "quality_stream", "model": str(folder), "minutes": a.minutes,
              "lookahead_frames": a.lookahead, "hop_frames": a.hop,
              "stream_ms_per_audio_s": round(s_ms, 3), "stream_peak_rss_mib": round(stream["peak_rss_mib"], 1),
              "whole_file_ms_per_audio_s": round(r_ms, 3),
              "whole_file_peak_rss_mib": round(ref["peak_rss_mib"], 1),
              "ratio": round(s_ms / r_ms, 3), "frames": stream["frames"]}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
