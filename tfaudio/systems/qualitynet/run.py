"""A Quality-Net run directory: its one stage (``<run-dir>/train``), the config it was
trained with and its best checkpoint restored into a model. What evaluation, export
and the scorer need of a run, without the training code."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfaudio.data.pipeline import graph_fn
from tfaudio.errors import RunDirError
from tfaudio.systems.qualitynet.data import QualitySet, _dummy_rows, eval_dataset
from tfaudio.systems.qualitynet.config import QualityNetRunConfig, config_from_dict
from tfaudio.systems.qualitynet.model import QualityNet
from tfaudio.training import core

SYSTEM = "qualitynet"
STAGE = "train"


def stage_dir(run_dir) -> Path:
    """Where a run's single stage lives: ``<run-dir>/train``."""
    return Path(run_dir) / STAGE


def load_run_config(run_dir) -> QualityNetRunConfig:
    """The resolved config a run directory was trained with."""
    path = stage_dir(run_dir) / "config.json"
    if not path.exists():
        raise RunDirError(f"{run_dir} holds no Quality-Net run (no config.json); train one first "
                          f"with `tfaudio-train qualitynet --run-dir {run_dir}`")
    d = json.loads(path.read_text())
    if d.get("system", SYSTEM) != SYSTEM:
        raise RunDirError(f"{run_dir} holds a '{d.get('system')}' run, not Quality-Net")
    return config_from_dict(d)


def load_trained_model(run_dir):
    """(model with the best checkpoint's weights, resolved config) of a trained run."""
    cfg = load_run_config(run_dir)
    model = QualityNet(cfg.model)
    model.build((None, None))
    core.restore_best(stage_dir(run_dir), {"model": model})
    return model, cfg


def predict_fn(model):
    """The model's traced ``(waveform [B, T], lengths [B]) -> outputs`` (no retracing
    per shape; one per model, reused)."""
    return graph_fn(model, lambda waveform, lengths: model(waveform, lengths=lengths, training=False),
                    input_signature=[tf.TensorSpec([None, None], tf.float32),
                                     tf.TensorSpec([None], tf.int32)], name="predict")


def predict_dataset(fn, dataset, n: int):
    """Run ``fn`` over :func:`eval_dataset` batches -> (scores [n], frame scores per utterance)."""
    scores = np.full(n, np.nan, np.float32)
    frames: List[Optional[np.ndarray]] = [None] * n
    for batch in dataset:
        out = fn(batch["waveform"], batch["length"])
        s = out["score"].numpy()
        q = out["frame_scores"].numpy()
        m = out["frame_mask"].numpy() > 0
        for j, i in enumerate(batch["index"].numpy()):
            scores[i] = s[j]
            frames[i] = q[j][m[j]]
    return scores, frames


def predict(model, waves: Sequence[np.ndarray], batch_size: int = 16, fn=None):
    """Utterance scores and per-utterance frame scores (valid frames only), input order."""
    qset = QualitySet(list(waves), _dummy_rows(len(waves)))
    fn = fn or predict_fn(model)
    return predict_dataset(fn, eval_dataset(qset, batch_size), len(waves))
