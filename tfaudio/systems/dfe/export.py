"""Export a trained DFE stage: waveform in, class probabilities + mask out.

SavedModel signature ``serving_default``: ``waveform`` float32 ``[batch, samples]`` at
the run's sample rate, any length (zero padded / cropped in-graph to the clip length
the classifier was trained on) -> ``probabilities [batch, classes]``, ``class_id
[batch]``, ``class_name [batch]``, ``mask [batch, frames, mels]`` (the product of the
stage's masks: what multiplied the features; ones for the plain classifier).
``assets/class_names.txt`` lists the classes by id: the run's training vocabulary
(``<run_dir>/classes.json``; UrbanSound8K's names for runs from before it was recorded).

TFLite: builtin ops only, input ``[1, clip samples]``, the same outputs but
``class_name``. The dynamic convolutions (by default a per-example ``map_fn``:
``model.dynamic_conv`` "auto" is exported as its CPU choice, "map") become a WHILE
loop with CONV_2D on runtime kernels; the check after writing feeds several
different inputs in a row so a runtime that reused the first input's kernels
would fail it. ``export.json`` records the formulation in its config.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from tfaudio.config import merge, to_dict
from tfaudio.audio import AudioError
from tfaudio.systems.dfe.data import DFEData, make_frontend
from tfaudio.datasets.urbansound8k import DatasetError
from tfaudio.atomic import write_bytes
from tfaudio.export.core import ExportError, check_signals, convert_tflite, export_version, run_tflite
from tfaudio.layers.dynamic import resolve_formulation
from tfaudio.training import core
from tfaudio.systems.dfe import run as R
from tfaudio.systems.dfe.config import METHOD_NAMES, STAGES

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4


class DFEServing(tf.Module):
    def __init__(self, frontend, model, class_names, num_samples: int):
        super().__init__()
        self.frontend = frontend
        self.model = model
        self.num_samples = num_samples
        self.class_names = tf.constant(class_names)

    def _fixed(self, waveform):
        feats = self.frontend(waveform)
        out = self.model(feats, training=False)
        mask = tf.ones_like(feats)
        for m in out["masks"]:
            mask = mask * m
        probs = out["probs"]
        return {"probabilities": probs, "class_id": tf.argmax(probs, -1, output_type=tf.int32), "mask": mask}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
    def serve(self, waveform):
        n = self.num_samples
        x = waveform[:, :n]
        x = tf.pad(x, [[0, 0], [0, n - tf.shape(x)[1]]])
        x = tf.ensure_shape(x, [None, n])
        out = self._fixed(x)
        out["class_name"] = tf.gather(self.class_names, out["class_id"])
        return out

    def tflite_bytes(self) -> bytes:
        """The fixed-length function as builtin-ops TFLite (no string output)."""
        spec = tf.TensorSpec([1, self.num_samples], tf.float32, name="waveform")
        return convert_tflite(self._fixed, [spec], track=[self.frontend, self.model])


def export_config(cfg):
    """The run's config with the dynamic convolutions' formulation fixed for the export:
    "auto" becomes what it picks on CPU ("map"), so an export is the same graph whichever
    machine wrote it (the TFLite file and its checks run on CPUs); an explicit choice is
    kept. Every formulation converts to builtin TFLite ops."""
    return merge(cfg, {"model": {"dynamic_conv": resolve_formulation(cfg.model.dynamic_conv, "CPU")}})


def best_stage(run_dir) -> str:
    """The trained stage with the highest best dev accuracy."""
    scores = {s: core.stage_state(Path(run_dir) / s).get("best", float("-inf")) for s in R.trained_stages(run_dir)}
    if not scores:
        raise core.RunDirError(f"{run_dir}: no trained stage to export (train one first)")
    return max(scores, key=lambda s: (scores[s], STAGES.index(s)))


def load_model(run_dir, stage: Optional[str] = None):
    """``(model, config)`` of a trained run: the stage's classifier and mask nets from
    their best checkpoints (default stage: best dev accuracy), taking features
    ``[batch, frames, mels]`` of the run's clip length."""
    run_dir = Path(run_dir)
    cfg = R.load_run_config(run_dir)
    stage = stage or best_stage(run_dir)
    frontend = make_frontend(cfg.frontend)
    num_samples = int(round(cfg.data.clip_seconds * cfg.frontend.sample_rate))
    return R.load_stage_model(run_dir, stage, cfg, frontend.num_frames(num_samples),
                              cfg.frontend.num_mel_bins), cfg


def export_dfe(run_dir, stage: Optional[str] = None, base_dir="exported_models", version: Optional[int] = None,
               data_dir: Optional[str] = None, tflite: bool = True, parity_clips: int = 4) -> Path:
    run_dir = Path(run_dir)
    cfg = export_config(R.load_run_config(run_dir))
    if data_dir:
        cfg = merge(cfg, {"data": {"data_dir": str(data_dir)}})
    stage = stage or best_stage(run_dir)
    if not core.stage_complete(run_dir / stage):
        raise core.RunDirError(f"{run_dir}: stage '{stage}' is not trained (trained: {R.trained_stages(run_dir)})")
    frontend = make_frontend(cfg.frontend)
    num_samples = int(round(cfg.data.clip_seconds * cfg.frontend.sample_rate))
    frames, mels = frontend.num_frames(num_samples), cfg.frontend.num_mel_bins
    model = R.load_stage_model(run_dir, stage, cfg, frames, mels)
    class_names = R.recorded_class_names(run_dir)  # the training vocabulary
    if len(class_names) != model.classifier.fc.units:
        raise core.RunDirError(f"{run_dir}: {len(class_names)} class names recorded but the classifier "
                               f"has {model.classifier.fc.units} outputs")
    serving = DFEServing(frontend, model, class_names, num_samples)

    # Real clips for the parity check: the first test clips of the configured data.
    try:
        data = DFEData(cfg.data, cfg.frontend, progress=False, class_names=class_names)
        real = data.waves("test").waves[:parity_clips]
    except (AudioError, DatasetError, OSError) as exc:  # data may be absent on the exporting machine
        log.warning("no real clips for the parity check (%s); using synthetic signals only", exc)
        real = np.zeros((0, num_samples), np.float32)

    def write_saved_model(tmp: Path):
        tf.saved_model.save(serving, str(tmp), signatures={"serving_default": serving.serve})

    def write_tflite(tmp: Path, path: Path):
        write_bytes(path, serving.tflite_bytes())

    def verify(tmp: Path) -> dict:
        return verify_export(tmp, num_samples, cfg.frontend.sample_rate, real, tflite)

    meta = {"model": "dfe", "stage": stage, "method": METHOD_NAMES[stage], "run_dir": str(run_dir.resolve()),
            "sample_rate": cfg.frontend.sample_rate, "clip_samples": num_samples,
            "best_dev_accuracy": core.stage_state(run_dir / stage).get("best"), "class_names": class_names,
            "config": to_dict(cfg)}
    return export_version(base_dir, "dfe", write_saved_model, write_tflite if tflite else None, verify,
                          assets={"class_names.txt": "\n".join(class_names) + "\n"}, metadata=meta,
                          version=version)


def verify_export(export_dir: Path, num_samples: int, sample_rate: int, real: np.ndarray, tflite: bool) -> dict:
    """Reload the SavedModel (and TFLite) and check them on silence, noise, a tone, real clips."""
    loaded = tf.saved_model.load(str(export_dir))
    fn = loaded.signatures["serving_default"]
    inputs = dict(check_signals(sample_rate, num_samples / sample_rate))
    for i, clip in enumerate(real):
        inputs[f"clip{i}"] = clip[None].astype(np.float32)
    checks = {}
    worst = 0.0
    for name, x in inputs.items():
        out = {k: v.numpy() for k, v in fn(waveform=tf.constant(x)).items()}
        p = out["probabilities"]
        if not (np.all(np.isfinite(p)) and np.allclose(p.sum(-1), 1, atol=1e-4) and np.all(np.isfinite(out["mask"]))):
            raise ExportError(f"{export_dir}: SavedModel gives ill-formed output on {name}")
        if tflite:
            lite = run_tflite(export_dir / "model.tflite", {"waveform": x})
            diff = max(float(np.abs(lite["probabilities"] - p).max()), float(np.abs(lite["mask"] - out["mask"]).max()))
            worst = max(worst, diff)
            if not diff <= PARITY_TOLERANCE:  # also catches NaN
                raise ExportError(f"{export_dir}: TFLite differs from the SavedModel by {diff:.2e} on {name}")
        checks[name] = {"class_id": int(out["class_id"][0]), "max_prob": float(p.max())}
    # a shorter and a longer waveform are padded / cropped in-graph
    for n in (num_samples // 2, num_samples * 2):
        out = fn(waveform=tf.zeros([2, n]))
        if out["probabilities"].shape != (2, p.shape[-1]):
            raise ExportError(f"{export_dir}: wrong output shape for input length {n}")
    return {"inputs": checks, "tflite_max_abs_diff": worst if tflite else None}


def serving_functions(recipe: str = "dfe/embedded") -> dict:
    """``{signature: concrete function}`` of an export of ``recipe``'s model, with untrained
    weights (for the README's signature table: names, dtypes, shapes)."""
    from tfaudio.config import from_dict, load_recipe
    from tfaudio.systems.dfe import model as M
    from tfaudio.systems.dfe.config import DFEConfig

    cfg = from_dict(DFEConfig, load_recipe(recipe), where=recipe)
    frontend = make_frontend(cfg.frontend)
    num_samples = int(round(cfg.data.clip_seconds * cfg.frontend.sample_rate))
    frames, mels = frontend.num_frames(num_samples), cfg.frontend.num_mel_bins
    model = M.build(M.MaskedClassifier(M.build(M.CNNFC(cfg.model), frames, mels), []), frames, mels)
    names = [f"class{i}" for i in range(model.classifier.fc.units)]
    serving = DFEServing(frontend, model, names, num_samples)
    return {"serving_default": serving.serve.get_concrete_function()}
