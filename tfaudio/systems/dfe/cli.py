"""CLI of the DFE system (dynamic time-frequency mask feature enhancement)."""
from __future__ import annotations

import argparse

from tfaudio.cli.common import add_export_flags

from tfaudio.systems.dfe.config import STAGES as STAGE_CHOICES

HELP = {
    "train": """\
DFE: noise-robust sound event classification with dynamic time-frequency masks.

Stages (--stage): classifier (CNN-FC, trained first, then frozen), sfe (static
mask), dfe (dynamic filter generator), cascade (DCL: a second generator on the
first's output, the first frozen), shared (DSL: one generator applied twice,
trained end to end). Missing prerequisite stages are trained first.

examples:
  tfaudio-train dfe --stage cascade                     # embedded synthetic data
  tfaudio-train dfe --stage shared --data-dir /data/UrbanSound8K
  tfaudio-train dfe --stage dfe --data-dir /data/UrbanSound8K --split cv3 --run-dir runs/cv3
  tfaudio-train dfe --stage dfe --resume                # continue after a kill
""",
    "eval": """\
DFE: paper Tables 1 and 2 (CSV + Markdown) and a Figure-3-style PNG.

Table 1: clean dev/test accuracy of every trained stage and their difference.
Table 2: test accuracy with each noise added at each SNR (test set only); the SNR
is measured over each clip's own samples unless --snr-reference padded.
Both tables carry a logistic-regression baseline on mel-band statistics and n.

example:
  tfaudio-eval dfe --data-dir /data/UrbanSound8K --noise-dir /data/noisex92 --snr 20 15 10 5 0
""",
    "export": """\
DFE: export a trained stage as a TF Serving SavedModel and a builtin-ops TFLite model.

Without --stage the stage with the best dev accuracy is exported. The next free
version under <out>/dfe/ is written atomically; existing versions are never touched.
Inputs: waveform float32 [batch, samples] at the training sample rate (SavedModel:
any length, padded/cropped in-graph to the clip length; TFLite: [1, clip samples]).
Outputs: probabilities, class_id, mask (and class_name in the SavedModel).

example:
  tfaudio-export dfe --stage shared
""",
}


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="UrbanSound8K root (metadata/UrbanSound8K.csv, audio/fold1..10); "
                   "default: the embedded synthetic set")
    p.add_argument("--noise-dir", help="folder of noise recordings (NOISEX-92 style); default: embedded")
    p.add_argument("--skip-bad-files", action="store_true",
                   help="skip unreadable audio files (and unreadable or silent noise files) with a "
                   "warning instead of stopping")


def add_train_args(p: argparse.ArgumentParser) -> None:
    from tfaudio.cli.common import add_train_flags

    p.add_argument("--stage", choices=STAGE_CHOICES, default="cascade", help="what to train")
    _data_flags(p)
    p.add_argument("--split", help="'paper' (folds 1-8/9/10) or cv1..cv10 (10-fold CV)")
    add_train_flags(p, "runs/dfe", "dfe/urbansound8k with --data-dir, dfe/embedded without", "Adam",
                    "epochs of every stage trained by this command")


TRAIN_FLAGS = {
    "data_dir": "data.data_dir", "noise_dir": "data.noise_dir", "split": "data.split",
    "epochs": "train.classifier_epochs",
}


def build_config(args):
    from tfaudio.cli.common import config_from_args
    from tfaudio.systems.dfe.config import DFEConfig

    recipe = args.config or ("dfe/urbansound8k" if args.data_dir else "dfe/embedded")
    extra = {}
    if args.epochs is not None:  # --epochs sets every stage's epochs
        extra["train.enhancer_epochs"] = args.epochs
    if args.skip_bad_files:
        extra["data.skip_bad_files"] = True
    return config_from_args(DFEConfig, recipe, args, TRAIN_FLAGS, extra)


def train(args) -> int:
    from tfaudio.systems.dfe.train import train_stage

    cfg = build_config(args)
    print(f"DFE stage '{args.stage}' -> {args.run_dir} "
          f"(data: {cfg.data.data_dir or 'embedded synthetic UrbanSound8K'})")
    train_stage(cfg, args.stage, args.run_dir, resume=args.resume, progress=not args.no_progress)
    return 0


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default="runs/dfe", help="trained run directory")
    _data_flags(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--snr", type=float, nargs="+", help="SNRs in dB (default: the run's config)")
    p.add_argument("--noise-types", nargs="+", help="noise file stems to use (default: all)")
    p.add_argument("--stages", nargs="+", choices=STAGE_CHOICES, help="default: every trained stage")
    p.add_argument("--out", help="output folder (default: <run-dir>/eval)")
    p.add_argument("--snr-reference", choices=("clip", "padded"),
                   help="measure the SNR over each clip's own samples ('clip') or over the zero-padded "
                   "clip ('padded'); default: the run's data.snr_reference ('clip' unless set)")
    p.add_argument("--figure-noise", default="pink",
                   help="noise of the Figure-3 example; if absent, the first noise in sorted name order")
    p.add_argument("--figure-snr", type=float, default=5.0, help="SNR of the Figure-3 example")
    p.add_argument("--clip", type=int, default=0, help="test clip index of the Figure-3 example")


def evaluate(args) -> int:
    from tfaudio.systems.dfe.evaluate import evaluate_run

    paths = evaluate_run(
        args.run_dir,
        data_dir=args.data_dir,
        noise_dir=args.noise_dir,
        snrs=args.snr,
        noise_types=args.noise_types,
        stages=args.stages,
        out_dir=args.out,
        figure_noise=args.figure_noise,
        figure_snr=args.figure_snr,
        figure_clip=args.clip,
        skip_bad_files=args.skip_bad_files,
        progress=not args.no_progress,
        snr_reference=args.snr_reference,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def add_export_args(p: argparse.ArgumentParser) -> None:
    add_export_flags(p, "runs/dfe")
    p.add_argument("--stage", choices=STAGE_CHOICES, help="default: best dev accuracy")
    p.add_argument("--data-dir", help="dataset used for the TFLite parity check on real clips")


def export(args) -> int:
    from tfaudio.systems.dfe.export import export_dfe

    path = export_dfe(args.run_dir, stage=args.stage, base_dir=args.out, version=args.version,
                      data_dir=args.data_dir, tflite=not args.no_tflite)
    print(f"exported: {path}")
    return 0


def serving_signatures() -> dict:
    """{model name: {signature: concrete function}} of this system's exports (the default
    recipe, untrained weights), read by the README's serving-signature table."""
    from tfaudio.systems.dfe.export import serving_functions

    return {"dfe": serving_functions()}
