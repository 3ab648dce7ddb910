"""A COLA run directory, read side: a stage's recorded config, the pretrained encoder
and downstream classifiers restored from their best checkpoints, the finished
downstream runs, and clip logits from segment logits; what evaluation, export and
tfaudio-embed need, without the training code."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import numpy as np
import tensorflow as tf

from tfaudio.config import from_dict
from tfaudio.errors import RunDirError
from tfaudio.systems.cola import data as D
from tfaudio.systems.cola import model as M
from tfaudio.systems.cola.config import INITS, PRETRAIN, ColaConfig
from tfaudio.training import core


def downstream_dir(run_dir, task: str, mode: str, init: str, fold: Optional[str] = None) -> Path:
    d = Path(run_dir) / task / f"{mode}-{init}"
    return d / fold if fold else d


def clip_logits(logits_fn, segs: D.Segmented, batch: int = 256) -> np.ndarray:
    """Each clip's logits: the mean over its non-overlapping segments."""
    out = [logits_fn(tf.constant(segs.features[i : i + batch])).numpy() for i in range(0, len(segs.features), batch)]
    return M.average_by_clip(np.concatenate(out), segs.clip_index, segs.num_clips)


def load_stage_config(stage_dir) -> dict:
    path = Path(stage_dir) / "config.json"
    if not path.exists() or not core.stage_complete(stage_dir):
        raise RunDirError(f"{stage_dir}: not a finished COLA stage (train it first)")
    return json.loads(path.read_text())


def config_of(raw: dict) -> ColaConfig:
    keys = ("frontend", "model", "data", "train", "downstream")
    return from_dict(ColaConfig, {k: raw[k] for k in keys if k in raw})


def load_encoder(run_dir):
    """``(frontend, encoder, head g, config)`` of a run's pretraining (best checkpoint)."""
    stage = Path(run_dir) / PRETRAIN
    cfg = config_of(load_stage_config(stage))
    encoder = M.build_encoder(cfg.model, cfg.frontend)
    head = M.ProjectionHead(cfg.model)
    head.build((None, encoder.output.shape[-1]))
    core.restore_best(stage, {"encoder": encoder, "head": head})
    return M.make_frontend(cfg.frontend), encoder, head, cfg


def load_classifier(stage_dir):
    """``(frontend, encoder, classifier, config, classes)`` of a downstream stage."""
    raw = load_stage_config(stage_dir)
    cfg = config_of(raw)
    encoder = M.build_encoder(cfg.model, cfg.frontend)
    head = M.make_classifier_head(len(raw["classes"]), encoder.output.shape[-1])
    core.restore_best(stage_dir, {"encoder": encoder, "classifier": head})
    return M.make_frontend(cfg.frontend), encoder, head, cfg, list(raw["classes"])


def trained_downstream(run_dir, task: str) -> List[str]:
    """``mode-init`` runs of a task with every fold finished."""
    out = []
    for mode in ("linear", "finetune"):
        for init in INITS:
            d = downstream_dir(run_dir, task, mode, init)
            stages = sorted(p for p in d.glob("cv*") if p.is_dir()) or [d]
            if d.exists() and all(core.stage_complete(s) for s in stages):
                out.append(f"{mode}-{init}")
    return out
