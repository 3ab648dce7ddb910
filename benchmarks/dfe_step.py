"""Train-step time of DFE (per-example dynamic convs) vs SFE (static convs), same batch.

Both steps are the real ones of ``tfaudio.systems.dfe.train.EnhancerTask`` style: the mask
net is trained through the frozen CNN-FC classifier with Adam, on min-max log-mel
features of the paper's shape (40 mel x 249 frames = 4 s). The static baseline is
measured in the same process, so the ratio is what matters, not the seconds.

    python benchmarks/dfe_step.py [--batch-size 16] [--frames 249] [--steps 5]

Last line: one JSON object with ``dfe_sfe_ratio`` among its keys (goal <= 1.3).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _dfe_steps import stage_step  # noqa: E402
from _timing import best_seconds_per_step  # noqa: E402


def step_time(stage: str, batch: int, frames: int, mels: int, steps: int, repeats: int) -> float:
    step, x, y, _, _ = stage_step(stage, batch, frames, mels)
    return best_seconds_per_step(step, (x, y), steps, repeats)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--frames", type=int, default=249)
    ap.add_argument("--mels", type=int, default=40)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    sfe = step_time("sfe", a.batch_size, a.frames, a.mels, a.steps, a.repeats)
    dfe = step_time("dfe", a.batch_size, a.frames, a.mels, a.steps, a.repeats)
    print(f"batch {a.batch_size} x {a.mels} mel x {a.frames} frames, best of {a.repeats} x {a.steps} steps")
    print(f"{'SFE (static mask net)':32s} {sfe * 1000:9.1f} ms/step")
    print(f"{'DFE (dynamic filter generator)':32s} {dfe * 1000:9.1f} ms/step")
    print(f"DFE / SFE = {dfe / sfe:.2f}  (goal <= 1.3)")
    print(json.dumps({"dfe_sfe_ratio": round(dfe / sfe, 3), "dfe_ms_per_step": round(dfe * 1000, 1),
                      "sfe_ms_per_step": round(sfe * 1000, 1), "batch_size": a.batch_size,
                      "frames": a.frames, "mels": a.mels}))


if __name__ == "__main__":
    main()
