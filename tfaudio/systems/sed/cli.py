"""CLI of the weakly labelled SED system (``tfaudio-train/eval/export sed``)."""
from __future__ import annotations

import argparse

from tfaudio.cli.common import add_export_flags

from tfaudio.systems.sed.config import ADVERSARIAL as ADVERSARIAL_CHOICES
from tfaudio.systems.sed.config import RUNS as RUN_CHOICES
from tfaudio.systems.sed.config import STAGES as STAGE_CHOICES

HELP = {
    "train": """\
Weakly labelled SED: CRNN with tri-training pseudo labels and gradient-reversal adversarial learning.

Stages (--stage) and domain adaptation (--adversarial none|whole|time) give the runs:
  baseline                          F + Ft on synthetic (strong) + weak clips
  adversarial --adversarial whole   + domain classifier D, one decision per clip
  adversarial --adversarial time    + D, one decision per frame (default for this stage)
  tri-training [--adversarial ...]  phase 1: F, F1, F2, Ft (+ D) with the labeler-diversity
                                    term; pseudo labels where F1 and F2 agree; phase 2: F, Ft
                                    (+ D) on the labelled and pseudo-labelled clips
  all                               the six runs of the paper's Table 1
Each run lives in <run-dir>/<run> (tri-training also <run>-phase1). Files listed in
the metadata but missing are skipped and listed in <run-dir>/skipped_files.tsv; an
unreadable audio file or a bad strong label (negative onset, offset <= onset, an
event past the clip's end, a validation label no training clip has) stops with one
line naming file, line and column, or with --skip-bad-files is a listed skip too.

examples:
  tfaudio-train sed --stage tri-training --adversarial time     # embedded data
  tfaudio-train sed --data-dir /data/dcase2019_task4 --stage baseline
  tfaudio-train sed --data-dir /data/dcase2019_task4 --stage all
  tfaudio-train sed --stage baseline --resume                   # continue after a kill
""",
    "eval": """\
SED: event / segment macro F1 (sed_eval) and PSDS1 / PSDS2 (sed_scores_eval) of every trained run.

--table 1 writes the paper's Table 1 for our models (CSV + Markdown, with the
paper's numbers beside ours), a domain-gap table (held-out synthetic vs real
validation clips) and a PNG per validation clip (frame probabilities, reference and
detected events; --plots N for the first N only). Only clips present on disk are
scored; the table says how many.

example:
  tfaudio-eval sed --data-dir /data/dcase2019_task4 --table 1
""",
    "export": """\
SED: export a trained run as a TF Serving SavedModel plus builtin-ops TFLite models.

Without --run the run with the best dev score is exported. The next free version
under <out>/sed/ is written atomically. Input: waveform float32 [batch, samples] at
the run's sample rate. Outputs: frame_probabilities [batch, frames, classes],
clip_probabilities [batch, classes], frame_hop_seconds. Assets: class_names.txt,
frame_hop_seconds.txt. TFLite: model.tflite (float32, parity-checked) and
model_float16.tflite, input [1, clip samples]. Detect events in files of any
length with tfaudio-detect.

example:
  tfaudio-export sed --run tri-adv-time
""",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default="runs/sed", help="run directory (checkpoints, logs, metrics)")
    p.add_argument("--data-dir", help="DCASE 2019 task 4 root (metadata/, audio/); default: the embedded set")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--skip-bad-files", action="store_true",
                   help="skip unreadable audio files and clips with bad strong labels (listed in "
                   "skipped_files.tsv) instead of stopping at the first")


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", choices=STAGE_CHOICES, default="tri-training", help="what to train")
    p.add_argument("--adversarial", choices=ADVERSARIAL_CHOICES,
                   help="domain classifier per clip (whole) or per frame (time); default none, "
                        "time for --stage adversarial")
    from tfaudio.cli.common import add_train_flags

    p.add_argument("--data-dir", help="DCASE 2019 task 4 root (metadata/, audio/); default: the embedded set")
    p.add_argument("--skip-bad-files", action="store_true",
                   help="skip unreadable audio files and clips with bad strong labels (listed in "
                   "skipped_files.tsv) instead of stopping at the first")
    add_train_flags(p, "runs/sed", "sed/dcase2019 with --data-dir, sed/embedded without", "Adam",
                    "epochs of each run (and of each tri-training phase)")


TRAIN_FLAGS = {"data_dir": "data.data_dir", "epochs": "train.epochs"}  # beside cli.common's


def build_config(args):
    from tfaudio.cli.common import config_from_args
    from tfaudio.systems.sed.config import SEDConfig

    recipe = args.config or ("sed/dcase2019" if args.data_dir else "sed/embedded")
    extra = {"data.skip_bad_files": True} if args.skip_bad_files else {}
    return config_from_args(SEDConfig, recipe, args, TRAIN_FLAGS, extra)


def train(args) -> int:
    from tfaudio.systems.sed.train import train as train_runs

    cfg = build_config(args)
    print(f"SED --stage {args.stage} --adversarial {args.adversarial or 'default'} -> {args.run_dir} "
          f"(data: {cfg.data.data_dir or 'embedded DCASE-layout set'})")
    train_runs(cfg, args.stage, args.adversarial, args.run_dir, resume=args.resume, progress=not args.no_progress)
    return 0


def add_eval_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--table", type=int, choices=(1,), default=1, help="paper table to write")
    p.add_argument("--runs", nargs="+", choices=RUN_CHOICES, help="default: every trained run")
    p.add_argument("--plots", type=int, help="plot only the first N validation clips (0: none; default: all)")
    p.add_argument("--out", help="output folder (default: <run-dir>/eval)")


def evaluate(args) -> int:
    from tfaudio.systems.sed.evaluate import evaluate_run

    paths = evaluate_run(args.run_dir, data_dir=args.data_dir, runs=args.runs, out_dir=args.out, table=args.table,
                         plots=args.plots, progress=not args.no_progress, skip_bad_files=args.skip_bad_files)
    for name, path in paths.items():
        if not name.startswith("plots/"):
            print(f"{name}: {path}")
    return 0


def add_export_args(p: argparse.ArgumentParser) -> None:
    add_export_flags(p, "runs/sed")
    p.add_argument("--run", choices=RUN_CHOICES, help="default: the best dev score")


def export(args) -> int:
    from tfaudio.systems.sed.export import export_sed

    path = export_sed(args.run_dir, run=args.run, base_dir=args.out, version=args.version, tflite=not args.no_tflite)
    print(f"exported: {path}")
    return 0


def serving_signatures() -> dict:
    """{model name: {signature: concrete function}} of this system's exports (the default
    recipe, untrained weights), read by the README's serving-signature table."""
    from tfaudio.systems.sed.export import serving_functions

    return {"sed": serving_functions()}
