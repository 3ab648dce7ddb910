"""Run every benchmark and rewrite the README's benchmark table from their results.

Each ``benchmarks/<name>.py`` runs in its own process; the last line of its output
is its JSON result, from which its row of the README table (``| `benchmarks/<name>.py`
| what | result | goal |``) is rewritten (or appended). A result that does not fit
its row formatter keeps the old row and says so. A benchmark that exits with status 2
cannot run on this machine (a benchmark-only dependency such as PyTorch is missing):
it is skipped, listed with its one-line reason, and its row is kept.

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


def _frontend(r: dict):
    goal = "met" if r["speedup_vs_librosa"] >= 3 else "**not reached**"
    return (f"in-graph log-mel (`FeatureFrontend`, batch {r['batch_size']}) vs librosa, {r['clips']} clips",
            f"**{r['speedup_vs_librosa']:.2f}x** librosa's fastest path; {r['speedup_vs_librosa_melspectrogram']:.2f}x "
            f"the one-call `librosa.feature.melspectrogram`; max abs error {r['max_abs_error']:.1e} on [0, 1] features",
            f">= 3x: {goal}")


def _dfe_step(r: dict):
    return (f"DFE vs SFE train step, batch {r['batch_size']} x {r['mels']} mel x {r['frames']} frames, same process",
            f"DFE/SFE = **{r['dfe_sfe_ratio']:.2f}** ({r['dfe_ms_per_step']:.0f} vs {r['sfe_ms_per_step']:.0f} ms/step)",
            f"<= 1.3: {'met' if r['dfe_sfe_ratio'] <= 1.3 else '**not met**'}")


def _dynamic_conv(r: dict):
    layers = ", ".join(f"{ci}->{co} d{d}" for ci, co, d in r["layers"])
    parts = []
    for b in sorted(r["ms_per_step"], key=int):
        ms = r["ms_per_step"][b]
        others = ", ".join(f"{f} {ms[f]:.0f} (**{r['vs_map'][b][f]:.2f}x**)" for f in ms if f != "map")
        parts.append(f"batch {b}: map {ms['map']:.0f} ms, {others}")
    fastest = set(r["winner"].values())
    met = fastest == {r["auto"]}
    return (f"DFE dynamic conv forward + backward per formulation, the five layers ({layers}) on "
            f"{r['mels']} mel x {r['frames']} frames, {r['device']} ({r['device_name']})",
            "; ".join(parts) + f"; \"auto\" picks {r['auto']}",
            f"\"auto\" = the fastest on {r['device']}: {'met' if met else '**not met**'}")


def _quality_rtf(r: dict):
    tf_part = (f", TF {r['tf_ms_per_audio_s']:.2f} ms/s; TF-TFLite score diff "
               f"{r['max_abs_score_diff_tf_tflite']:.0e}") if "tf_ms_per_audio_s" in r else ""
    quant = "".join(f"; {q} {r[q + '_max_abs_score_diff']:.1e}" for q in ("float16", "int8")
                    if q + "_max_abs_score_diff" in r)
    return ("Quality-Net (paper size) ms of CPU per audio second, one thread",
            f"TFLite **{r['tflite_ms_per_audio_s']:.2f}** ms/s mean{tf_part}{quant} (random weights)",
            "TFLite <= 3")


def _long_audio(r: dict):
    longest = max(row["minutes"] for row in r["rows"])
    parts = [f"{row['mode']} {row['peak_rss_mib']:,.0f} MiB / {row['wall_s']:.1f} s"
             for row in r["rows"] if row["minutes"] == longest]
    return (f"`tfaudio-score` peak RSS and time by file length, blocks vs whole file ({r['model']})",
            f"{longest:g} min: " + "; ".join(parts), "flat in length, < 500 MB for an hour")


def _dfe_memory(r: dict):
    rows = r["results"]
    top = max(row["batch"] for row in rows)
    parts = [f"{row['stage']} {row['peak_mb'] / 1024:.1f}" for row in rows if row["batch"] == top]
    return (f"peak RSS of one training step per DFE stage at batch {'/'.join(str(b) for b in sorted({row['batch'] for row in rows}))}",
            f"GB at batch {top}: " + ", ".join(parts) + "; table in the DFE section",
            "fits batch 32 on a 24 GB CPU host")


def _quality_trace(r: dict):
    parts = [f"`{name}`: {v['traces']} trace(s), {v['cpu_s_total']:.1f} s" for name, v in r["results"].items()]
    return ("Quality-Net training-step tracing at batch 1 (paper model), CPU s; `fit` compiles `signature_b1`",
            "; ".join(parts), "-")


def _cola_step(r: dict):
    sizes = sorted(int(k.rsplit("_b", 1)[1]) for k in r if k.startswith("pretrain_examples_per_s_b"))
    rates = ", ".join(f"**{r[f'pretrain_examples_per_s_b{b}']:.1f}** pairs/s at batch {b}" for b in sizes)
    ratio = r["contrastive_over_supervised"]
    return (f"COLA pretraining step ({r['encoder']}) vs a supervised step on the same number of segments",
            f"{rates}; contrastive / supervised = **{ratio:.2f}** ({r['contrastive_ms_per_step']:.0f} vs "
            f"{r['supervised_ms_per_step']:.0f} ms)", f"<= 1.1: {'met' if ratio <= 1.1 else '**not met**'}")


def _sed_step(r: dict):
    return (f"SED baseline step vs tri-training + time-adversarial step, same batch ({r['recipe']}, batch {r['batch_size']})",
            f"tri+adv / baseline cost per clip **{r['baseline_over_tri_adv']:.2f}x** ({r['tri_adv_clips_per_s']:.1f} vs "
            f"{r['baseline_clips_per_s']:.1f} clips/s)", "-")


def _sed_peer(r: dict):
    ratio = r["tfaudio_over_pytorch"]
    return (f"SED training step (forward, frame + clip BCE, backward, Adam), tfaudio's `SEDTask` vs the DCASE task 4 "
            f"baseline CRNN in PyTorch, same architecture ({r['params_tfaudio']:,} parameters each), {r['recipe']} "
            f"shapes ({r['frames']} x {r['mels']}), batch {r['batch_size']}, {r['device']} ({r['device_name']}), "
            f"{r['threads']} threads",
            f"tfaudio / PyTorch = **{ratio:.2f}** ({r['tfaudio_clips_per_s']:.2f} vs {r['pytorch_clips_per_s']:.2f} "
            f"clips/s; TF {r['tensorflow']}, torch {r['torch']})",
            f">= 1.0: {'met' if ratio >= 1.0 else '**not met**'}")


def _quality_stream(r: dict):
    return (f"Quality-Net streaming (`model_stream.tflite`, look-ahead {r.get('lookahead_frames', 64)} and step "
            f"{r.get('hop_frames', 64)} frames, one LiteRT thread) "
            f"on a {r['minutes']:g}-minute stream fed in 0.1 s chunks, vs whole-file `model.tflite` on the "
            f"same kind of audio",
            f"**{r['stream_ms_per_audio_s']:.2f}** ms of CPU per audio second, peak RSS "
            f"**{r['stream_peak_rss_mib']:.0f} MiB**; whole file {r['whole_file_ms_per_audio_s']:.2f} ms/s: "
            f"stream / whole file = {r['ratio']:.2f}",
            "memory flat in length")


#: ``name -> (result JSON -> (what it compares, result, goal))``
ROWS = {"scaling": _scaling, "frontend": _frontend, "dfe_step": _dfe_step, "dynamic_conv": _dynamic_conv,
        "quality_rtf": _quality_rtf, "quality_stream": _quality_stream,
        "long_audio": _long_audio, "dfe_memory": _dfe_memory, "quality_trace": _quality_trace,
        "cola_step": _cola_step, "sed_step": _sed_step, "sed_peer": _sed_peer}


def benchmarks():
    return sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                  if p.stem != "run_all" and not p.stem.startswith("_"))  # _name: a shared module


#: The exit status of a benchmark that cannot run here (e.g. its optional dependency is missing).
CANNOT_RUN = 2


class Skipped(Exception):
    """A benchmark that cannot run on this machine; the message says why."""


def run(name: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py")], capture_output=True,
                         text=True, env=env)
    print(res.stdout, end="")
    if res.returncode == CANNOT_RUN:
        lines = res.stderr.strip().splitlines()
        raise Skipped(lines[-1] if lines else f"exit {CANNOT_RUN}")
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
        try:
            row = "| `benchmarks/{}.py` | {} | {} | {} |".format(name, *ROWS[name](result))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:  # a result of another shape
            print(f"benchmarks/{name}.py: README row kept ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
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
    results, skipped = {}, {}
    for name in names:
        try:
            results[name] = run(name)
        except Skipped as why:
            skipped[name] = str(why)
            print(f"benchmarks/{name}.py skipped: {why}", file=sys.stderr)
    readme = Path(a.readme)
    new = rewrite_table(readme.read_text(encoding="utf-8"), results)
    if a.dry_run:
        print(new[new.index(HEADER):].split("\n\n")[0])
    else:
        from tfaudio.atomic import write_text

        write_text(readme, new)
        print(f"{readme}: benchmark rows rewritten for {sorted(set(results) & set(ROWS))}")
    if skipped:
        print(f"skipped (rows kept): {', '.join(f'{k} ({v})' for k, v in sorted(skipped.items()))}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
