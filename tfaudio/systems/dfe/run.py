"""A DFE run directory, read side: the config and class names it was trained with,
the stages trained in it, and a stage's model (classifier + mask nets) restored from
the best checkpoints; what evaluation and export need, without the training code."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from tfaudio.data.pipeline import graph_fn
from tfaudio.datasets.urbansound8k import CLASSES
from tfaudio.errors import RunDirError
from tfaudio.systems.dfe import model as M
from tfaudio.systems.dfe.config import DFEConfig, STAGES
from tfaudio.training import core, rundir

CLASSES_FILE = "classes.json"


def mask_nets_for(stage: str, cfg: M.DFEModelConfig) -> List[keras.Model]:
    """The mask nets of a stage, in application order (shared repeats one object)."""
    if stage == "classifier":
        return []
    if stage == "sfe":
        return [M.StaticMaskNet(cfg)]
    if stage == "dfe":
        return [M.DynamicMaskNet(cfg)]
    if stage == "cascade":
        return [M.DynamicMaskNet(cfg), M.DynamicMaskNet(cfg)]
    if stage == "shared":
        g = M.DynamicMaskNet(cfg)
        return [g, g]
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")


def unique_nets(nets) -> Dict[str, keras.Model]:
    out, seen = {}, set()
    for net in nets:
        if id(net) not in seen:
            seen.add(id(net))
            out[f"mask_net_{len(out)}"] = net
    return out


def load_stage_model(run_dir, stage: str, cfg: DFEConfig, frames: int, mels: int) -> M.MaskedClassifier:
    """Classifier + the stage's mask nets restored from their best checkpoints."""
    run_dir = Path(run_dir)
    clf = M.build(M.CNNFC(cfg.model), frames, mels)
    core.restore_best(run_dir / "classifier", {"classifier": clf})
    nets = mask_nets_for(stage, cfg.model)
    model = M.build(M.MaskedClassifier(clf, nets), frames, mels)
    if nets:
        core.restore_best(run_dir / stage, unique_nets(nets))
    return model


def recorded_class_names(run_dir) -> Optional[List[str]]:
    """The class names a run was trained on: ``classes.json``; for a run directory from
    before it was recorded, UrbanSound8K's (first ``model.num_classes``) names; ``None``
    when nothing was trained there yet."""
    run_dir = Path(run_dir)
    path = run_dir / CLASSES_FILE
    if path.exists():
        names = json.loads(path.read_text()).get("class_names")
        if not isinstance(names, list) or not names:
            raise RunDirError(f"{path}: expected {{\"class_names\": [names...]}}")
        return [str(n) for n in names]
    if not (run_dir / "config.json").exists():
        return None
    k = load_run_config(run_dir).model.num_classes
    return list(CLASSES)[: k if k is not None else len(CLASSES)]


def load_run_config(run_dir) -> DFEConfig:
    """The config a run directory was trained with."""
    return rundir.load_config(run_dir, "dfe", DFEConfig, "DFE")[0]


def trained_stages(run_dir) -> List[str]:
    return [s for s in STAGES if core.stage_complete(Path(run_dir) / s)]


def predict_probs(model: M.MaskedClassifier, features: np.ndarray, batch_size: int = 64) -> np.ndarray:
    fn = graph_fn(model, lambda x: model(x, training=False)["probs"], name="probs")
    return np.concatenate(
        [fn(tf.constant(features[i : i + batch_size])).numpy() for i in range(0, len(features), batch_size)]
    )
