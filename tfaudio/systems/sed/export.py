"""Export a trained SED run: waveform in, frame and clip probabilities out.

SavedModel ``serving_default``: ``waveform`` float32 ``[batch, samples]`` at the run's
sample rate (any length; 10 s is what the model was trained on) ->
``frame_probabilities [batch, frames', classes]``, ``clip_probabilities [batch,
classes]``, ``frame_hop_seconds [batch]``. Assets: ``class_names.txt`` (one per
line, in output order) and ``frame_hop_seconds.txt``.

TFLite (builtin ops only): input ``[1, clip samples]``, the two probability outputs;
``model.tflite`` (float32, parity-checked against the SavedModel) and
``model_float16.tflite`` (float16 weights), checked finite on full-scale input — the
waveform is scaled by ``frontend.input_gain`` before the power spectrogram so that
|STFT|^2 of a full-scale signal stays inside float16's range (65504).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from tfaudio.config import to_dict
from tfaudio.atomic import write_bytes
from tfaudio.export.core import ExportError, check_signals, convert_tflite, export_version, run_tflite
from tfaudio.systems.sed import model as M
from tfaudio.systems.sed import run as R
from tfaudio.systems.sed.config import METHOD_NAMES, RUNS
from tfaudio.training import core

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4


class SEDServing(tf.Module):
    def __init__(self, frontend, detector, gain: float, num_samples: int, hop: float):
        super().__init__()
        self.frontend, self.detector = frontend, detector
        self.gain, self.num_samples, self.hop = float(gain), int(num_samples), float(hop)

    def _outputs(self, waveform):
        frame, clip = M.forward_waveform(self.frontend, self.detector, waveform, self.gain)
        return {"frame_probabilities": frame, "clip_probabilities": clip}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
    def serve(self, waveform):
        out = self._outputs(waveform)
        out["frame_hop_seconds"] = tf.fill([tf.shape(waveform)[0]], tf.constant(self.hop, tf.float32))
        return out

    def tflite_bytes(self, quantization=None) -> bytes:
        """The fixed-length function as builtin-ops TFLite (through the one conversion)."""
        spec = tf.TensorSpec([1, self.num_samples], tf.float32, name="waveform")
        return convert_tflite(self._outputs, [spec], track=[self.frontend, self.detector],
                              quantization=quantization)


def best_run(run_dir) -> str:
    scores = {r: core.stage_state(Path(run_dir) / r).get("best", float("-inf")) for r in R.trained_runs(run_dir)}
    if not scores:
        raise core.RunDirError(f"{run_dir}: no trained SED run to export (train one first)")
    return max(scores, key=lambda r: (scores[r], RUNS.index(r)))


def full_scale_signals(sample_rate: int, num_samples: int):
    t = np.arange(num_samples) / sample_rate
    rng = np.random.default_rng(0)
    return {"full_scale_square": np.sign(np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None],
            "full_scale_noise": np.clip(rng.standard_normal(num_samples), -1, 1).astype(np.float32)[None]}


def load_model(run_dir, run: Optional[str] = None):
    """``(detector, config)`` of a trained run (default: the best of its trained runs);
    the detector takes features of the run's clip length."""
    run_dir = Path(run_dir)
    cfg, _ = R.load_run_config(run_dir)
    run = run or best_run(run_dir)
    frontend = M.make_frontend(cfg.frontend)
    frames = frontend.num_frames(int(round(cfg.data.clip_seconds * cfg.frontend.sample_rate)))
    return R.load_detector(run_dir, run, cfg, frames), cfg


def export_sed(run_dir, run: Optional[str] = None, base_dir="exported_models", version: Optional[int] = None,
               tflite: bool = True) -> Path:
    run_dir = Path(run_dir)
    cfg, classes = R.load_run_config(run_dir)
    run = run or best_run(run_dir)
    if not core.stage_complete(run_dir / run):
        raise core.RunDirError(f"{run_dir}: run '{run}' is not trained (trained: {R.trained_runs(run_dir)})")
    fe = cfg.frontend
    frontend = M.make_frontend(fe)
    num_samples = int(round(cfg.data.clip_seconds * fe.sample_rate))
    frames = frontend.num_frames(num_samples)
    detector = R.load_detector(run_dir, run, cfg, frames)
    hop = fe.frame_step * M.time_pool(cfg.model) / fe.sample_rate
    serving = SEDServing(frontend, detector, fe.input_gain, num_samples, hop)

    def write_saved_model(tmp: Path):
        tf.saved_model.save(serving, str(tmp), signatures={"serving_default": serving.serve})

    def write_tflite(tmp: Path, path: Path):
        write_bytes(path, serving.tflite_bytes())
        write_bytes(tmp / "model_float16.tflite", serving.tflite_bytes("float16"))

    def verify(tmp: Path) -> dict:
        return verify_export(tmp, num_samples, fe.sample_rate, len(classes), tflite)

    meta = {"model": "sed", "run": run, "method": METHOD_NAMES[run], "run_dir": str(run_dir.resolve()),
            "sample_rate": fe.sample_rate, "clip_samples": num_samples, "frame_hop_seconds": hop,
            "classes": list(classes), "post": to_dict(cfg.post),
            "best_dev_clip_map": core.stage_state(run_dir / run).get("best"), "config": to_dict(cfg)}
    return export_version(base_dir, "sed", write_saved_model, write_tflite if tflite else None, verify,
                          assets={"class_names.txt": "\n".join(classes) + "\n",
                                  "frame_hop_seconds.txt": f"{hop!r}\n"},
                          metadata=meta, version=version)


def verify_export(export_dir: Path, num_samples: int, sample_rate: int, num_classes: int, tflite: bool) -> dict:
    """Reload and check: silence, noise, a tone, full-scale signals; TFLite parity; float16 finite."""
    fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    inputs = dict(check_signals(sample_rate, num_samples / sample_rate))
    inputs.update(full_scale_signals(sample_rate, num_samples))
    checks, worst = {}, 0.0
    for name, x in inputs.items():
        out = {k: v.numpy() for k, v in fn(waveform=tf.constant(x)).items()}
        fp, cp = out["frame_probabilities"], out["clip_probabilities"]
        ok = (np.all(np.isfinite(fp)) and np.all(np.isfinite(cp)) and fp.shape[-1] == num_classes
              and np.all((fp >= 0) & (fp <= 1)))
        if not ok:
            raise ExportError(f"{export_dir}: SavedModel gives ill-formed output on {name}")
        entry = {"max_frame_prob": float(fp.max())}
        if tflite:
            lite = run_tflite(export_dir / "model.tflite", {"waveform": x})
            diff = max(float(np.abs(lite["frame_probabilities"] - fp).max()),
                       float(np.abs(lite["clip_probabilities"] - cp).max()))
            worst = max(worst, diff)
            if not diff <= PARITY_TOLERANCE:
                raise ExportError(f"{export_dir}: TFLite differs from the SavedModel by {diff:.2e} on {name}")
            half = run_tflite(export_dir / "model_float16.tflite", {"waveform": x})
            if not all(np.all(np.isfinite(v)) for v in half.values()):
                raise ExportError(f"{export_dir}: float16 TFLite gives non-finite output on {name}")
            entry["float16_max_abs_diff"] = float(np.abs(half["frame_probabilities"] - fp).max())
        checks[name] = entry
    out = fn(waveform=tf.zeros([2, num_samples * 2]))
    if out["frame_probabilities"].shape[0] != 2 or out["clip_probabilities"].shape != (2, num_classes):
        raise ExportError(f"{export_dir}: wrong output shape for a 2 x {num_samples * 2} input")
    return {"inputs": checks, "tflite_max_abs_diff": worst if tflite else None}


def serving_functions(recipe: str = "sed/embedded") -> dict:
    """``{signature: concrete function}`` of an export of ``recipe``'s model, with untrained
    weights (for the README's signature table: names, dtypes, shapes)."""
    from tfaudio.config import from_dict, load_recipe
    from tfaudio.systems.sed.config import SEDConfig

    cfg = from_dict(SEDConfig, load_recipe(recipe), where=recipe)
    fe = cfg.frontend
    frontend = M.make_frontend(fe)
    num_samples = int(round(cfg.data.clip_seconds * fe.sample_rate))
    parts = M.build_parts(cfg.model, frontend.num_frames(num_samples), fe.num_mel_bins, ("t",))
    hop = fe.frame_step * M.time_pool(cfg.model) / fe.sample_rate
    serving = SEDServing(frontend, M.Detector(parts["F"], parts["Ft"]), fe.input_gain, num_samples, hop)
    return {"serving_default": serving.serve.get_concrete_function()}
