"""Run every benchmark and rewrite the README's benchmark table from their results.

Each ``benchmarks/<name>.py`` runs in its own process; the last line of its output
is its JSON result. A benchmark with a row formatter below gets its row of the
README table (``| `benchmarks/<name>.py` | what | result | goal |``) rewritten (or
appended); the rows of the others are kept as they are, their JSON is printed.

    python benchmarks/run_all.py [--only scaling frontend ...] [--readme README.md] [--dry-run]

Last line: one JSON object, ``{name: result}`` of every benchmark that ran.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEADER = "| benchmark | what it compares | result | goal |"


def _scaling(r: dict):
    return ("training examples/s, DFE classifier (real task, embedded shapes, global batch 32): 1 process vs a "
            "2-worker `MultiWorkerMirroredStrategy` job on loopback; input pipeline (waveform -> log-mel) read "
            "locally vs through a tf.data service (2 workers, same host)",
            f"2 workers / 1: **{r['train_2_over_1']:.2f}x** ({r['train_2_workers_examples_per_s']:.0f} vs "
            f"{r['train_1_worker_examples_per_s']:.0f} ex/s; both workers share the same 2 cores); service / local "
            f"input: **{r['input_service_over_local']:.2f}x** ({r['input_service_examples_per_s']:.0f} vs "
            f"{r['input_local_examples_per_s']:.0f} ex/s after the first batch, which takes "
            f"{r['input_first_batch_s_service']:.1f} s vs {r['input_first_batch_s_local']:.2f} s)",
            "-")


#: ``name -> (result JSON -> (what it compares, result, goal))``
ROWS = {"scaling": _scaling}


def benchmarks():
    return sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                  if p.stem != "run_all" and not p.stem.startswith("_"))  # _name: a shared module


def run(name: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py")], capture_output=True,
                         text=True, env=env)
    print(res.stdout, end="")
    if res.returncode != 0:
        raise SystemExit(f"benchmarks/{name}.py failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def rewrite_table(text: str, results: dict) -> str:
    lines = text.splitlines()
    start = lines.index(HEADER)
    end = start + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = lines[start + 2:end]
    for name, result in results.items():
        if name not in ROWS:
            continue
        row = "| `benchmarks/{}.py` | {} | {} | {} |".format(name, *ROWS[name](result))
        prefix = f"| `benchmarks/{name}.py` |"
        found = [i for i, r in enumerate(rows) if r.startswith(prefix)]
        if found:
            rows[found[0]] = row
        else:
            rows.append(row)
    return "\n".join(lines[:start + 2] + rows + lines[end:]) + ("\n" if text.endswith("\n") else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="NAME", help=f"benchmarks to run (default: all: {benchmarks()})")
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    ap.add_argument("--dry-run", action="store_true", help="print the new table, leave README as it is")
    a = ap.parse_args()
    names = a.only or benchmarks()
    unknown = sorted(set(names) - set(benchmarks()))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {benchmarks()}")
    results = {name: run(name) for name in names}
    readme = Path(a.readme)
    new = rewrite_table(readme.read_text(encoding="utf-8"), results)
    if a.dry_run:
        print(new[new.index(HEADER):].split("\n\n")[0])
    else:
        from tfaudio.atomic import write_text

        write_text(readme, new)
        print(f"{readme}: benchmark rows rewritten for {sorted(set(results) & set(ROWS))}; others kept")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
