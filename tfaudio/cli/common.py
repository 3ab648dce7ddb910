"""Shared CLI plumbing: one sub-command per system, clear one-line errors.

``tfaudio-train SYSTEM ...``, ``tfaudio-eval SYSTEM ...`` and ``tfaudio-export SYSTEM
...`` are built from the command-line modules the systems registered
(:mod:`tfaudio.registry`). Each module
exposes ``add_<command>_args(parser)`` and ``train`` / ``evaluate`` / ``export`` ``(args) -> int`` for the
commands it supports, plus ``HELP = {command: text}``. The modules import TensorFlow
lazily, so ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import textwrap

from tfaudio.runtime import load_tensorflow, user_errors

DESCRIPTIONS = {
    "train": "Train a system. Without --data-dir each system uses its embedded synthetic "
    "dataset, generated once in the real dataset's on-disk layout.",
    "eval": "Evaluate a trained run and write the paper's tables and figures.",
    "export": "Export a trained run as a versioned SavedModel (TF Serving layout, with warmup requests) "
    "plus TFLite. 'tfaudio-export --serving-config' writes exported_models/models.config for TF Serving "
    "(see 'tfaudio-export --serving-config --help').",
}


FUNCTIONS = {"train": "train", "eval": "evaluate", "export": "export", "score": "score"}


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


#: Flags every system's ``train`` takes for the same config keys.
TRAIN_FLAGS = {"batch_size": "train.batch_size", "lr": "train.learning_rate", "seed": "train.seed",
               "strategy": "train.strategy"}


def add_train_flags(p: argparse.ArgumentParser, run_dir: str, recipes: str, optimizer: str,
                    epochs_help: str = "epochs") -> None:
    """The training flags with one meaning in every system: run directory, recipe,
    epochs, batch size, learning rate, seed, strategy, resume, ``--set``, progress."""
    p.add_argument("--run-dir", default=run_dir, help="run directory (checkpoints, logs, metrics)")
    p.add_argument("--config", help=f"recipe (a pipelines/<system>/*.json name or a path); default: {recipes}")
    p.add_argument("--epochs", type=int, help=epochs_help)
    p.add_argument("--batch-size", type=int, help="examples per batch (global, over all replicas)")
    p.add_argument("--lr", type=float, help=f"{optimizer} learning rate")
    p.add_argument("--seed", type=int, help="seed of every random draw (data order, init, dropout)")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   help="tf.distribute strategy: mirrored = every local GPU; multiworker = the "
                   "hosts in TF_CONFIG, run the same command on each (README: 'Scaling out and serving')")
    p.add_argument("--data-service", metavar="grpc://HOST:PORT",
                   help="read the training input through a tf.data service dispatcher (started with "
                   "tfaudio-data-service dispatcher), so decoding and features run on its workers")
    p.add_argument("--data-service-mode", choices=("auto", "distributed_epoch", "parallel_epochs"),
                   default="auto", help="distributed_epoch: each example once per epoch, split among the "
                   "service workers; parallel_epochs: every worker runs the whole input; auto: the first "
                   "when the input's source can be split")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run; the result equals an uninterrupted run")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override any config field, e.g. --set train.batch_size=32")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_export_flags(p: argparse.ArgumentParser, run_dir: str) -> None:
    """The export flags with one meaning in every system: the trained run directory,
    the TF Serving base path, an explicit (new) version number, SavedModel only."""
    p.add_argument("--run-dir", default=run_dir, help="trained run directory")
    p.add_argument("--out", default="exported_models", help="TF Serving model base path")
    p.add_argument("--version", type=int, help="explicit version number (must be new)")
    p.add_argument("--no-tflite", action="store_true", help="SavedModel only")


def config_from_args(cls, recipe: str, args, flags, extra=None):
    """``recipe`` (pipelines/*.json) as the dataclass ``cls``, overridden by each flag of
    :data:`TRAIN_FLAGS` and ``flags`` ({args attribute: "dotted.config.key"}) that was
    given, then by ``extra`` ({dotted key: value}), then by ``--set key=value`` items."""
    from tfaudio.config import load_recipe

    return config_from_dict_and_args(cls, load_recipe(recipe), recipe, args, flags, extra)


def config_from_dict_and_args(cls, d: dict, where: str, args, flags, extra=None):
    """As :func:`config_from_args`, from a config dict read from ``where`` (a recorded
    ``config.json``, say) instead of a recipe."""
    from tfaudio.config import from_dict, merge, parse_set_args, set_path

    cfg = from_dict(cls, d, where=where)
    overrides: dict = {}
    for attr, key in {**TRAIN_FLAGS, **flags}.items():
        if getattr(args, attr, None) is not None:
            set_path(overrides, key, getattr(args, attr))
    for key, value in (extra or {}).items():
        set_path(overrides, key, value)
    return merge(merge(cfg, overrides), parse_set_args(getattr(args, "set", [])))


def main(command: str, argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(
        prog=f"tfaudio-{command}", description=DESCRIPTIONS[command], formatter_class=Formatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    from tfaudio.registry import systems

    for name, modpath in systems().items():
        try:
            mod = importlib.import_module(modpath)
        except ModuleNotFoundError as exc:
            if exc.name == modpath:
                continue
            raise
        if not hasattr(mod, f"add_{command}_args"):
            continue
        help_text = mod.HELP[command]
        p = sub.add_parser(
            name,
            help=help_text.splitlines()[0],
            description=textwrap.dedent(help_text),
            formatter_class=Formatter,
        )
        getattr(mod, f"add_{command}_args")(p)
        p.set_defaults(func=getattr(mod, FUNCTIONS[command]))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("absl").setLevel(logging.WARNING)  # TensorFlow's per-checkpoint INFO lines
    try:
        load_tensorflow()
        if getattr(args, "strategy", None) == "multiworker":  # before any data is loaded
            from tfaudio.training.core import check_tf_config

            check_tf_config()
            if getattr(args, "data_service", None):
                from tfaudio.data.service import DataServiceError

                raise DataServiceError("--data-service with --strategy multiworker is not supported (the "
                                       "workers would not see the same global batches); use it with one "
                                       "trainer (default or mirrored strategy)")
        if getattr(args, "data_service", None):
            from tfaudio.data import service

            service.set_default(args.data_service, args.data_service_mode)
        return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"tfaudio-{command} {args.system}: error: {exc}", file=sys.stderr)
        return 2
