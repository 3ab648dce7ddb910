"""Peak memory of one DFE training step per stage and batch size (paper model, 40 x 249).

Every (stage, batch) runs in its own subprocess, which builds the stage exactly as
``tfaudio.systems.dfe.train`` does (CNN-FC for ``classifier``; the frozen CNN-FC plus
the stage's mask nets for ``sfe``, ``dfe``, ``cascade``, ``shared``, Adam on what the
stage trains), runs ``--steps`` graph-mode training steps on random min-max features
of the paper's shape and reports its peak resident set size (``ru_maxrss``). Also
reported: the RSS after building the model and optimizer (weights and Adam slots,
before any step), so ``peak - built`` is what the step itself needs.

    python benchmarks/dfe_memory.py [--stages dfe shared] [--batches 16] [--steps 2]

Last line: one JSON object ``{"results": [{stage, batch, peak_mb, built_mb, step_mb,
params, trained_params}, ...], ...}``.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("classifier", "sfe", "dfe", "cascade", "shared")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(stage: str, batch: int, frames: int, mels: int, steps: int) -> dict:
    sys.path.insert(0, ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from _dfe_steps import stage_step

    step, x, y, model, variables = stage_step(stage, batch, frames, mels)
    built = rss_mb()

    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y).numpy()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    params = int(sum(int(np.prod(v.shape)) for v in model.weights))
    trained_params = int(sum(int(np.prod(v.shape)) for v in variables))
    return {"stage": stage, "batch": batch, "peak_mb": round(peak, 1), "built_mb": round(built, 1),
            "step_mb": round(peak - built, 1), "params": params, "trained_params": trained_params,
            "seconds": round(seconds, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--batches", nargs="+", type=int, default=[16, 32, 64])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--frames", type=int, default=249)
    ap.add_argument("--mels", type=int, default=40)
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "BATCH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.frames, a.mels, a.steps)))
        return
    results = []
    print(f"{'stage':10s} {'batch':>5s} {'peak MB':>9s} {'built MB':>9s} {'step MB':>8s} "
          f"{'params':>11s} {'trained':>11s}")
    for stage in a.stages:
        for batch in a.batches:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", stage, str(batch),
                   "--steps", str(a.steps), "--frames", str(a.frames), "--mels", str(a.mels)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                r = {"stage": stage, "batch": batch, "error": res.stderr.strip().splitlines()[-1:]}
                print(f"{stage:10s} {batch:5d} failed: {r['error']}")
            else:
                r = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"{stage:10s} {batch:5d} {r['peak_mb']:9.0f} {r['built_mb']:9.0f} {r['step_mb']:8.0f} "
                      f"{r['params']:11,d} {r['trained_params']:11,d}")
            results.append(r)
    print(json.dumps({"results": results, "steps": a.steps, "frames": a.frames, "mels": a.mels}))


if __name__ == "__main__":
    main()
