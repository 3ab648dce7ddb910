"""CLI of the ASR <-> SER transfer system (``tfaudio-train/eval/export transfer``)."""
from __future__ import annotations

import argparse

from tfaudio.cli.common import add_export_flags
from tfaudio.systems.transfer.config import STAGES as STAGE_CHOICES
from tfaudio.systems.transfer.config import TASKS as TASK_CHOICES

HELP = {
    "train": """\
ASR <-> SER transfer: one ConvNet acoustic model (31 x 40 log-mel windows) for phone recognition on TIMIT and speech emotion recognition on IEMOCAP, and the frozen-layer transfer between them.

Stages (--stage):
  base       train the base model of --task asr (144 HMM states, TIMIT train set, early
             stopping on the dev set) or --task ser (5 classes: 4 emotions + silence, one
             model per leave-one-speaker-out fold of sessions 1-4, session 5 as dev);
             without --task both
  transfer   copy layers 1-5 of the --base model into a new model for --target, hold the
             first --frozen l layers constant, train the new output layer alone for one
             epoch, then the other unfrozen layers with early stopping (l = 5: output
             layer only); without --frozen every l in 0..5
  sweep      both base models, then every l in both directions (the paper's Tables 2, 3)
Frame labels of TIMIT come from a monophone GMM-HMM state alignment inside the .PHN
segments (--alignment gmm) or equal thirds (--alignment equal). Without a data
directory both corpora are embedded miniatures generated in the real layouts. A
corrupt, empty or non-audio file stops the run with one line naming it; with
--skip-bad-files it is skipped and listed (path and reason, counted).

examples:
  tfaudio-train transfer --stage sweep                                   # embedded data, both directions
  tfaudio-train transfer --stage base --task asr --data-dir /data/TIMIT
  tfaudio-train transfer --stage base --task ser --data-dir /data/IEMOCAP_full_release
  tfaudio-train transfer --stage transfer --base asr --target ser --frozen 2
  tfaudio-train transfer --stage sweep --resume                          # continue after a kill
""",
    "eval": """\
ASR <-> SER transfer: Tables 2 and 3 (error vs number of constant layers), Figures 2 and 3.

Reads results of every trained stage of the run directory. Table 2 (SER -> ASR): FER
and PER on dev and core test; Table 3 (ASR -> SER): frame-level error E and
unweighted error UE = 1 - UAR (five classes) and the four-emotion utterance-level
figures (majority of frame decisions, silence left out), averaged over the LOSO
folds. Each table has our base model, a simple baseline on the same split
(majority class; logistic regression on log-mel frames / utterance statistics) and
the paper's numbers; CSV + Markdown. Figure 3: error vs l in both directions;
Figure 2: first-layer filters of both base models (PNG).

examples:
  tfaudio-eval transfer --sweep
  tfaudio-eval transfer --sweep --base ser --target asr      # Table 2 only (+ figures)
""",
    "export": """\
ASR <-> SER transfer: export a base model as a TF Serving SavedModel plus a builtin-ops TFLite model.

--task asr: input waveform float32 [batch, samples] at 16 kHz -> frame_posteriors
[batch, frames, 144] (48 phones x 3 states; assets: phones.txt, states.txt and the
decoder's priors, bigram LM and transition probabilities in decoder.npz); decode a
file to phones with tfaudio-recognize.
--task ser: -> frame_posteriors [batch, frames, 5] (anger, happiness, sadness,
neutral, silence) and utterance_probabilities [batch, 4] (share of the non-silent
frames voting for each emotion). The next free version under <out>/transfer-<task>/
is written atomically; the TFLite twin is checked against the SavedModel.

examples:
  tfaudio-export transfer --task asr
  tfaudio-export transfer --task ser --fold 3
""",
}


def _skip_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-bad-files", action="store_true",
                   help="skip corrupt, empty, non-audio or too short audio files (listed, with the reason) "
                   "instead of stopping")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="corpus root of the task trained (TIMIT for asr, IEMOCAP_full_release for ser); "
                   "default: the embedded corpora")
    p.add_argument("--alignment", choices=("gmm", "equal"), help="TIMIT state alignment (default: recipe, gmm)")


def add_train_args(p: argparse.ArgumentParser) -> None:
    from tfaudio.cli.common import add_train_flags

    p.add_argument("--stage", choices=STAGE_CHOICES, default="sweep", help="what to train")
    p.add_argument("--task", choices=TASK_CHOICES, help="--stage base: which base model (default: both)")
    p.add_argument("--base", choices=TASK_CHOICES, help="--stage transfer: the task whose model is copied")
    p.add_argument("--target", choices=TASK_CHOICES, help="--stage transfer: the task trained (default: the other)")
    p.add_argument("--frozen", type=int, nargs="+", metavar="L", help="layers held constant (0..5); default: all")
    _common(p)
    _skip_flag(p)
    add_train_flags(p, "runs/transfer", "transfer/paper with a data directory, transfer/embedded without",
                    "RMSProp", "most epochs of a run (early stopping ends it sooner)")


TRAIN_FLAGS = {"epochs": "train.epochs", "alignment": "data.alignment"}


def _data_key(args) -> str:
    task = args.task or args.target or (("ser" if args.base == "asr" else "asr") if args.base else None)
    if task is None:
        from tfaudio.errors import ConfigError

        raise ConfigError("--data-dir names one corpus: say which with --task (base) or --target (transfer); "
                          "for the sweep set both with --set data.timit_dir=... --set data.iemocap_dir=...")
    return "data.timit_dir" if task == "asr" else "data.iemocap_dir"


def build_config(args):
    """The recipe (``--config``; else the run directory's own ``config.json`` when it
    exists, so later stages of a run share its settings; else ``transfer/paper`` with
    a data directory, ``transfer/embedded`` without), then flags and ``--set``."""
    import json
    from pathlib import Path

    from tfaudio.cli.common import config_from_args, config_from_dict_and_args
    from tfaudio.systems.transfer.config import TransferConfig

    data_dir = getattr(args, "data_dir", None)
    extra = {_data_key(args): data_dir} if data_dir else {}
    stored = Path(args.run_dir) / "config.json"
    if args.config is None and stored.exists():
        d = json.loads(stored.read_text())
        d.pop("system", None)
        return config_from_dict_and_args(TransferConfig, d, str(stored), args, TRAIN_FLAGS, extra)
    recipe = args.config or ("transfer/paper" if data_dir else "transfer/embedded")
    return config_from_args(TransferConfig, recipe, args, TRAIN_FLAGS, extra)


def train(args) -> int:
    from tfaudio.systems.transfer.train import train as run

    if args.stage == "transfer" and args.base and args.target and args.base == args.target:
        from tfaudio.errors import ConfigError

        raise ConfigError(f"--base {args.base} --target {args.target}: transfer goes from one task to the other")
    cfg = build_config(args)
    print(f"transfer --stage {args.stage} -> {args.run_dir} (TIMIT: {cfg.data.timit_dir or 'embedded'}, "
          f"IEMOCAP: {cfg.data.iemocap_dir or 'embedded'}, alignment: {cfg.data.alignment})")
    run(cfg, args.stage, args.run_dir, task=args.task, base=args.base, target=args.target, frozen=args.frozen,
        resume=args.resume, progress=not args.no_progress, skip_bad=args.skip_bad_files)
    return 0


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default="runs/transfer", help="trained run directory")
    p.add_argument("--sweep", action="store_true", default=True, help="tables and figures of the transfer sweep")
    p.add_argument("--base", choices=TASK_CHOICES, help="only the direction from this task (default: both)")
    p.add_argument("--target", choices=TASK_CHOICES, help="only the direction to this task (default: both)")
    p.add_argument("--out", help="output folder (default: <run-dir>/eval)")
    _skip_flag(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def evaluate(args) -> int:
    from tfaudio.systems.transfer.evaluate import evaluate_run

    if args.base and args.target and args.base == args.target:
        from tfaudio.errors import ConfigError

        raise ConfigError(f"--base {args.base} --target {args.target}: a direction goes from one task to the other")
    direction = args.target or ({"asr": "ser", "ser": "asr"}[args.base] if args.base else None)
    paths = evaluate_run(args.run_dir, out_dir=args.out, target=direction, progress=not args.no_progress,
                         skip_bad=args.skip_bad_files)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def add_export_args(p: argparse.ArgumentParser) -> None:
    add_export_flags(p, "runs/transfer")
    p.add_argument("--task", choices=TASK_CHOICES, default="asr", help="which base model")
    p.add_argument("--fold", type=int, help="--task ser: the LOSO fold's model (default: data.ser_base_fold)")


def export(args) -> int:
    from tfaudio.systems.transfer.export import export_transfer

    path = export_transfer(args.run_dir, task=args.task, fold=args.fold, base_dir=args.out, version=args.version,
                           tflite=not args.no_tflite)
    print(f"exported: {path}")
    return 0


def serving_signatures() -> dict:
    """{model name: {signature: concrete function}} of this system's exports (the default
    recipe, untrained weights), read by the README's serving-signature table."""
    from tfaudio.systems.transfer.export import serving_functions

    return serving_functions()
