"""`tfaudio-score` on long files: peak memory and wall time per file length.

Runs from the repository root::

    python benchmarks/long_audio.py                          # 1, 10, 60 min; builds a model
    python benchmarks/long_audio.py --model exported_models/qualitynet/2
    python benchmarks/long_audio.py --minutes 1 10 --tflite exported_models/qualitynet/2/model.tflite

Writes speech-like synthetic 16 kHz 16-bit WAV files of each length into a temporary
folder (harmonic voiced segments with syllable-rate envelope, pauses and background
noise; generated and written in 10 s pieces), then runs ``tfaudio-score FILE --json
--frames`` (``python -m tfaudio.systems.qualitynet.scorer``) in a fresh subprocess
per file and reads that process's own resource usage (``os.wait4``): peak resident
memory (``ru_maxrss``) and wall time. That includes the runtime (Python, TensorFlow
or LiteRT, the model), measured separately on a 1 s file (``runtime`` row). This
process itself never loads TensorFlow (a child's ``ru_maxrss`` includes the memory
it was forked with).

``--whole-minutes`` (default 1 and 10) also scores those lengths with
``--block-seconds 0`` (whole file in one pass, the behaviour before block scoring)
for comparison. ``--check-minutes`` (default 3) scores a file both ways and reports
the largest absolute difference of the utterance score and of any frame score.

Without ``--model`` / ``--tflite`` a paper-size Quality-Net (BLSTM 100, dense 50/50)
is trained for one epoch on a small toy set and exported (about half a minute);
memory and time do not depend on how well it is trained. The LAST line printed is
one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SAMPLE_RATE = 16000
PIECE_SECONDS = 10


def write_speechlike(path: Path, seconds: float, seed: int = 0) -> Path:
    """Speech-like synthetic audio, written piece by piece (flat memory)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    total = int(seconds * SAMPLE_RATE)
    phase = 0.0
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16") as f:
        done = 0
        while done < total:
            n = min(PIECE_SECONDS * SAMPLE_RATE, total - done)
            t = (done + np.arange(n)) / SAMPLE_RATE
            f0 = 120 + 40 * np.sin(2 * np.pi * 0.21 * t) + 15 * np.sin(2 * np.pi * 1.3 * t)
            ph = phase + 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
            phase = float(ph[-1])
            voiced = sum(np.sin(k * ph) / k for k in range(1, 12))
            syllables = np.clip(np.sin(2 * np.pi * 4.1 * t), 0, None) ** 2
            pauses = (np.sin(2 * np.pi * 0.13 * t + 1.0) > -0.6).astype(np.float64)
            noise_level = 0.01 * (1.5 + np.sin(2 * np.pi * 0.011 * t))
            x = 0.25 * voiced * syllables * pauses + noise_level * rng.standard_normal(n)
            f.write(np.clip(x, -1, 1).astype(np.float32))
            done += n
    return path


def run_scorer(args, out_path: Path):
    """Run tfaudio-score in a subprocess -> (peak RSS MiB, wall seconds, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "tfaudio.systems.qualitynet.scorer", *map(str, args)]
    with open(out_path, "w") as out, open(str(out_path) + ".err", "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = Path(out_path).read_text()
    stderr = Path(str(out_path) + ".err").read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return usage.ru_maxrss / 1024.0, wall, stdout, stderr


def build_model(folder: Path) -> Path:
    """A paper-size Quality-Net trained one epoch on a toy set, exported (SavedModel +
    TFLite), in a subprocess: a child's ``ru_maxrss`` counts the memory it was forked
    with, so this process must not load TensorFlow itself."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--build-model", str(folder)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"building the model failed:\n{proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def _build_model(folder: Path) -> Path:
    from tfaudio.systems.qualitynet import train as T
    from tfaudio.systems.qualitynet.export import export_qualitynet

    from tests.systems.qualitynet.toy import make_toy_manifests

    toy = make_toy_manifests(folder / "toy", n_train=12, n_dev=4, n_test=4)
    cfg = T.with_overrides(T.QualityNetRunConfig(), {
        "data": {"manifest": str(toy["train"]), "dev_manifest": str(toy["dev"])},
        "train": {"epochs": 1, "batch_size": 4}})
    T.train(cfg, folder / "run", progress=False, say=lambda *_: None)
    return export_qualitynet(folder / "run", base_dir=folder / "models")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--model", help="an exported Quality-Net SavedModel version folder")
    src.add_argument("--tflite", help="a Quality-Net .tflite file")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--whole-minutes", type=float, nargs="*", default=[1, 10],
                        help="lengths also scored in one pass (--block-seconds 0)")
    parser.add_argument("--check-minutes", type=float, default=3.0,
                        help="length of the block-vs-whole comparison (0: skip)")
    parser.add_argument("--keep", metavar="DIR", help="write the files here and keep them")
    parser.add_argument("--build-model", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build_model:  # the child of build_model()
        print(_build_model(Path(args.build_model)))
        return {}

    tmp = tempfile.TemporaryDirectory(prefix="long_audio_")
    work = Path(args.keep) if args.keep else Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    if args.tflite:
        source, label = ["--tflite", args.tflite], f"TFLite {args.tflite}"
    elif args.model:
        source, label = ["--model", args.model], f"SavedModel {args.model}"
    else:
        print("building a paper-size model (1 epoch on a toy set) ...", flush=True)
        export = build_model(work / "model")
        source, label = ["--model", str(export)], "SavedModel, paper size, 1 toy epoch"

    rows = []

    def measure(name, minutes, extra=()):
        wav = work / f"{name}.wav"
        if not wav.exists():
            write_speechlike(wav, minutes * 60, seed=int(minutes * 10))
        rss, wall, out, _ = run_scorer([wav, "--json", "--frames", *source, *extra],
                                       work / f"{name}{'_'.join(extra)}.jsonl")
        res = json.loads(out.strip().splitlines()[-1])
        return rss, wall, res

    rss, wall, _ = measure("runtime_1s", 1 / 60)
    rows.append({"minutes": 1 / 60, "mode": "runtime (1 s file)", "peak_rss_mib": rss, "wall_s": wall})
    for m in args.minutes:
        rss, wall, res = measure(f"len_{m:g}min", m)
        rows.append({"minutes": m, "mode": "blocks", "peak_rss_mib": rss, "wall_s": wall,
                     "score": res["score"]})
        if m in args.whole_minutes:
            rss, wall, res_w = measure(f"len_{m:g}min", m, ("--block-seconds", "0"))
            rows.append({"minutes": m, "mode": "whole file", "peak_rss_mib": rss, "wall_s": wall,
                         "score": res_w["score"]})
    check = {}
    if args.check_minutes > 0:
        m = args.check_minutes
        _, _, blk = measure(f"len_{m:g}min", m)
        _, _, whole = measure(f"len_{m:g}min", m, ("--block-seconds", "0"))
        fb, fw = np.array(blk["frames"]), np.array(whole["frames"])
        check = {"minutes": m, "frames": int(len(fw)),
                 "max_abs_score_diff": abs(blk["score"] - whole["score"]),
                 "max_abs_frame_diff": float(np.max(np.abs(fb - fw))) if len(fb) == len(fw) else None}

    print(f"\n{label}; peak RSS of the tfaudio-score process, wall time incl. start-up")
    print(f"{'minutes':>8}  {'mode':<20} {'peak RSS MiB':>12} {'wall s':>8} {'score':>8}")
    for r in rows:
        score = f"{r['score']:.4f}" if "score" in r else ""
        print(f"{r['minutes']:8.3g}  {r['mode']:<20} {r['peak_rss_mib']:12.0f} {r['wall_s']:8.1f} {score:>8}")
    if check:
        print(f"block vs whole-file on {check['minutes']:g} min ({check['frames']} frames): "
              f"max |score diff| {check['max_abs_score_diff']:.2e}, "
              f"max |frame diff| {check['max_abs_frame_diff']:.2e}")
    result = {"model": label, "rows": [{k: (round(v, 4) if isinstance(v, float) else v)
                                        for k, v in r.items()} for r in rows],
              "check": check}
    print(json.dumps(result))
    tmp.cleanup()
    return result


if __name__ == "__main__":
    main()
