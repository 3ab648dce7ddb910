"""A SED run directory, read side: the config and classes it was trained with, the
runs trained in it and a run's detector restored from its best checkpoint; what
evaluation and export need, without the training code."""
from __future__ import annotations

from pathlib import Path
from typing import List

from tfaudio.systems.sed import model as M
from tfaudio.systems.sed.config import RUNS, SEDConfig
from tfaudio.training import core, rundir


def load_run_config(run_dir):
    """``(config, classes)`` a run directory was trained with."""
    cfg, extra = rundir.load_config(run_dir, "sed", SEDConfig, "SED")
    return cfg, extra["classes"]


def trained_runs(run_dir) -> List[str]:
    return [r for r in RUNS if core.stage_complete(Path(run_dir) / r)]


def load_detector(run_dir, run: str, cfg: SEDConfig, frames: int) -> M.Detector:
    """F + Ft of a run, restored from its best checkpoint."""
    parts = M.build_parts(cfg.model, frames, cfg.frontend.num_mel_bins, ("t",))
    core.restore_best(Path(run_dir) / run, parts)
    return M.Detector(parts["F"], parts["Ft"])
