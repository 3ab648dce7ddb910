"""A transfer run directory, read side: the config it was trained with, the stage
names, and a stage's acoustic model restored from its best checkpoint; what
evaluation, export and tfaudio-recognize need, without the training code."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from tfaudio.errors import RunDirError
from tfaudio.systems.transfer import data as D
from tfaudio.systems.transfer.config import TransferConfig
from tfaudio.systems.transfer.model import AcousticModel
from tfaudio.training import core, rundir


def num_classes(task: str) -> int:
    return len(D.ASR_CLASSES) if task == "asr" else len(D.SER_CLASSES)


def build_model(cfg: TransferConfig, task: str) -> AcousticModel:
    return AcousticModel(cfg.model, num_classes(task), 2 * cfg.data.context + 1, cfg.frontend.num_mel_bins,
                         name=f"{task}_convnet")


def load_run_config(run_dir) -> TransferConfig:
    return rundir.load_config(run_dir, "transfer", TransferConfig, "transfer")[0]


def stage_name(task: str, fold: Optional[int], base: Optional[str] = None, frozen: Optional[int] = None) -> str:
    head = "asr" if task == "asr" else f"ser/fold{fold}"
    return f"{head}/base" if base is None else f"{head}/from-{base}-l{frozen}"


def load_stage_model(run_dir, cfg: TransferConfig, task: str, stage: str) -> AcousticModel:
    stage_dir = Path(run_dir) / stage
    if not core.stage_complete(stage_dir):
        raise RunDirError(f"{stage_dir}: not trained (train it with tfaudio-train transfer)")
    model = build_model(cfg, task)
    core.restore_best(stage_dir, model.named_parts())
    return model
