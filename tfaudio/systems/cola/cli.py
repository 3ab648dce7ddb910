"""CLI of COLA (``tfaudio-train/eval/export cola``; ``tfaudio-embed`` is in embed.py)."""
from __future__ import annotations

import argparse

from tfaudio.cli.common import add_export_flags, add_train_flags

from tfaudio.systems.cola.config import INITS, RUNS, STAGES

HELP = {
    "train": """\
COLA: contrastive self-supervised audio embeddings, then a linear probe or fine-tuning.

Stages (--stage):
  pretrain   EfficientNet-B0 encoder + projection g, trained to pick, for each
             anchor segment, the segment of the same clip among the batch's
             (--similarity bilinear|cosine; --batch-size sets the negatives).
             Data: --data-dir (a folder tree of audio, a CSV with a 'path' column,
             or tfaudio-prepare shards); default: the embedded recordings.
  linear     one dense layer on the frozen encoder          (--init pretrained|random)
  finetune   the whole network                               (--init random: the
             supervised-from-scratch baseline of Table 1)
Downstream tasks (--task): a folder per class (root/<label>/*.wav, optionally under
train/ and test/), Speech Commands as it ships, UrbanSound8K (--folds cv: the ten
leave-one-fold-out runs, or cvK), or a CSV with path,label,split. Default: the
embedded task. A corrupt, empty or non-audio file stops the run with one line naming
it; with --skip-bad-files it is skipped and listed in <run-dir>/skipped_files.tsv.

examples:
  tfaudio-train cola --stage pretrain                                     # embedded data
  tfaudio-train cola --stage pretrain --data-dir /data/audioset/shards --batch-size 1024 --strategy mirrored
  tfaudio-train cola --stage pretrain --similarity cosine --run-dir runs/cola-cosine   # Table 3
  tfaudio-train cola --stage linear --task /data/speech_commands_v0.02
  tfaudio-train cola --stage linear --init random --task /data/speech_commands_v0.02   # Table 1 baseline
  tfaudio-train cola --stage finetune --task /data/UrbanSound8K --folds cv
  tfaudio-train cola --stage pretrain --resume                             # continue after a kill
""",
    "eval": """\
COLA: downstream test accuracy on whole clips (segment logits averaged).

--table 1 writes Table 1 for one task: the baseline row (logistic regression on
per-clip log-mel statistics), linear probes on the random and the pretrained
encoder, supervised from scratch and fine-tuned COLA, each with n test clips
(UrbanSound8K: mean over the trained folds). --table 3 / 4 compare the linear
probes of several run directories (--compare) by similarity / pretraining batch size.

examples:
  tfaudio-eval cola --table 1                                  # embedded task
  tfaudio-eval cola --task /data/speech_commands_v0.02 --table 1
  tfaudio-eval cola --table 3 --compare runs/cola runs/cola-cosine
""",
    "export": """\
COLA: export the pretrained encoder (or a downstream classifier) as a TF Serving
SavedModel plus builtin-ops TFLite models.

Encoder (default): input waveform float32 [batch, samples] at 16 kHz of any length
(shorter than 960 ms is zero padded) -> segment_embeddings [batch, segments, 1280]
(non-overlapping 960 ms segments) and embedding [batch, 1280] (their mean).
Classifier (--classifier linear-pretrained, finetune-pretrained, ...; --task as in
training): waveform -> probabilities [batch, classes] (softmax of the segments' mean
logits) and segment_logits; assets/class_names.txt. TFLite: model.tflite (float32,
input [1, samples], any length, parity-checked) and model_float16.tflite.

examples:
  tfaudio-export cola
  tfaudio-export cola --classifier linear-pretrained --task /data/speech_commands_v0.02
  tfaudio-embed clips/ --out embeddings.npz
""",
}

FLAGS = {"data_dir": "data.data_dir", "similarity": "model.similarity", "task": "downstream.task"}
DOWNSTREAM_FLAGS = {"batch_size": "downstream.batch_size", "lr": "downstream.learning_rate",
                    "seed": "downstream.seed", "epochs": "downstream.epochs"}


def _skip_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-bad-files", action="store_true",
                   help="skip corrupt, empty or non-audio files (listed, with the reason) instead of stopping")


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", choices=STAGES, default="pretrain", help="what to train")
    p.add_argument("--init", choices=INITS, default="pretrained",
                   help="downstream encoder: the run's pretraining, or random (Table 1 baselines)")
    p.add_argument("--data-dir", help="pretraining audio: folder tree, CSV list or tfaudio-prepare shards")
    p.add_argument("--task", help="downstream task: class folders, Speech Commands, UrbanSound8K or a CSV manifest")
    p.add_argument("--folds", help="UrbanSound8K: cv (all ten folds, default) or cv1 ... cv10")
    p.add_argument("--similarity", choices=("bilinear", "cosine"), help="pretraining similarity (Table 3)")
    _skip_flag(p)
    add_train_flags(p, "runs/cola", "cola/embedded", "Adam",
                    epochs_help="epochs (of pretraining, or of the downstream stage)")


def build_config(args):
    from tfaudio.cli.common import config_from_args
    from tfaudio.systems.cola.config import ColaConfig

    flags = dict(FLAGS)
    if getattr(args, "stage", "pretrain") == "pretrain":
        flags["epochs"] = "train.epochs"
    else:
        flags.update(DOWNSTREAM_FLAGS)
    return config_from_args(ColaConfig, args.config or "cola/embedded", args, flags)


def train(args) -> int:
    from tfaudio.systems.cola import train as T

    cfg = build_config(args)
    progress = not args.no_progress
    if args.stage == "pretrain":
        for flag in ("task", "folds"):
            if getattr(args, flag):
                from tfaudio.errors import ConfigError

                raise ConfigError(f"--{flag} is for the downstream stages (linear, finetune), not pretrain")
        res = T.train_pretrain(cfg, args.run_dir, resume=args.resume, progress=progress,
                               skip_bad=args.skip_bad_files)
        print(f"pretrain done: best dev loss {res.best_metric:.4f} at epoch {res.best_epoch} -> {res.stage_dir}")
    else:
        T.train_downstream(cfg, args.stage, args.init, args.run_dir, folds=args.folds, resume=args.resume,
                           progress=progress, skip_bad=args.skip_bad_files)
    return 0


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default="runs/cola", help="trained run directory")
    p.add_argument("--task", help="downstream task as in training (default: the embedded task)")
    p.add_argument("--table", type=int, choices=(1, 3, 4), default=1, help="paper table to write")
    p.add_argument("--compare", nargs="+", metavar="RUN_DIR", help="run directories for --table 3 / 4")
    p.add_argument("--out", help="output folder (default: <run-dir>/eval)")
    _skip_flag(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def evaluate(args) -> int:
    from tfaudio.systems.cola.evaluate import evaluate_run

    paths = evaluate_run(args.run_dir, task=args.task, table=args.table, compare=args.compare, out_dir=args.out,
                         progress=not args.no_progress, skip_bad=args.skip_bad_files)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def add_export_args(p: argparse.ArgumentParser) -> None:
    add_export_flags(p, "runs/cola")
    p.add_argument("--classifier", choices=RUNS, help="export this downstream classifier instead of the encoder")
    p.add_argument("--task", help="the classifier's task (as in training; default: the embedded task)")
    p.add_argument("--fold", help="UrbanSound8K: which fold's classifier (cv1 ... cv10; default cv1)")


def export(args) -> int:
    from tfaudio.systems.cola.export import export_classifier, export_encoder

    if args.classifier:
        path = export_classifier(args.run_dir, args.classifier, task=args.task, fold=args.fold, base_dir=args.out,
                                 version=args.version, tflite=not args.no_tflite)
    else:
        path = export_encoder(args.run_dir, base_dir=args.out, version=args.version, tflite=not args.no_tflite)
    print(f"exported: {path}")
    return 0


def serving_signatures() -> dict:
    """{model name: {signature: concrete function}} of this system's exports (the default
    recipe, untrained weights), read by the README's serving-signature table."""
    from tfaudio.systems.cola.export import serving_functions

    return serving_functions()
