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

from _sed_steps import task_step  # noqa: E402
from _timing import best_seconds_per_step  # noqa: E402
from tfaudio.config import from_dict, load_recipe, merge  # noqa: E402
from tfaudio.systems.sed.config import SEDConfig  # noqa: E402


def clips_per_second(cfg: SEDConfig, heads, adversarial: str, diversity: bool, batch: int, steps: int,
                     repeats: int) -> float:
    step, data, _ = task_step(cfg, heads, adversarial, diversity, batch)
    return batch / best_seconds_per_step(step, (data,), steps, repeats)


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
