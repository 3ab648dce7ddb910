"""Export COLA: the pretrained encoder (waveform -> embeddings) or a downstream
classifier (waveform -> class probabilities), through ``export.core.export_version``.

Encoder, ``serving_default``: ``waveform`` float32 ``[batch, samples]`` at the run's
rate, any length (shorter than one segment: zero padded) -> ``segment_embeddings
[batch, segments, D]`` (non-overlapping 960 ms segments) and ``embedding [batch, D]``
(their mean). Classifier: ``waveform`` -> ``probabilities [batch, classes]`` (softmax
of the segments' mean logits) and ``segment_logits [batch, segments, classes]``;
``assets/class_names.txt``.

TFLite (builtin ops only, through ``convert_tflite``): input ``[1, samples]`` with a
dynamic length (resize the input in the interpreter), ``model.tflite`` (float32,
parity-checked against the SavedModel at several lengths) and ``model_float16.tflite``
(float16 weights), checked finite on full-scale input.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from tfaudio.atomic import write_bytes
from tfaudio.config import to_dict
from tfaudio.export.core import ExportError, TFLiteRunner, check_signals, convert_tflite, export_version
from tfaudio.systems.cola import data as D
from tfaudio.systems.cola import model as M
from tfaudio.systems.cola import run as R
from tfaudio.systems.cola.config import PRETRAIN
from tfaudio.systems.cola.config import ColaFrontendConfig
from tfaudio.training import core

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-3  # relative to the output's scale, broadband inputs
# Pure tones and square waves leave most STFT bins at float32 rounding noise (~1e-7 of
# the peak), below or near the 1e-5 log floor; TF's and LiteRT's FFTs round those
# bins differently and the log turns that into real feature differences. Measured on
# the trained embedded B0 encoder: 5.8e-3 on a 440 Hz tone.
TONAL_PARITY_TOLERANCE = 3e-2
TONAL = ("tone", "full_scale_square")
WAVE = tf.TensorSpec([None, None], tf.float32, name="waveform")


class EncoderServing(tf.Module):
    def __init__(self, frontend, encoder, fe: ColaFrontendConfig):
        super().__init__()
        self.frontend, self.encoder, self.fe = frontend, encoder, fe

    def _outputs(self, waveform):
        per_segment, mean = M.embed_waveform(self.frontend, self.encoder, waveform, self.fe)
        return {"segment_embeddings": per_segment, "embedding": mean}

    @tf.function(input_signature=[WAVE])
    def serve(self, waveform):
        return self._outputs(waveform)

    def tflite_bytes(self, quantization=None) -> bytes:
        spec = tf.TensorSpec([1, None], tf.float32, name="waveform")
        return convert_tflite(self._outputs, [spec], track=[self.frontend, self.encoder], quantization=quantization)


class ClassifierServing(EncoderServing):
    def __init__(self, frontend, encoder, head, fe: ColaFrontendConfig):
        super().__init__(frontend, encoder, fe)
        self.head = head

    def _outputs(self, waveform):
        logits, per_segment = M.classify_waveform(self.frontend, self.encoder, self.head, waveform, self.fe)
        return {"probabilities": tf.nn.softmax(logits, axis=-1), "segment_logits": per_segment}

    @tf.function(input_signature=[WAVE])
    def serve(self, waveform):
        return self._outputs(waveform)

    def tflite_bytes(self, quantization=None) -> bytes:
        spec = tf.TensorSpec([1, None], tf.float32, name="waveform")
        return convert_tflite(self._outputs, [spec], track=[self.frontend, self.encoder, self.head],
                              quantization=quantization)


def load_model(run_dir, classifier: Optional[str] = None, task: Optional[str] = None, fold: Optional[str] = None):
    """The pretrained ``(frontend, encoder, config)`` of a run, or with ``classifier``
    (``linear-pretrained`` ...) ``(frontend, encoder, head, config, classes)`` of that
    downstream stage."""
    if classifier is None:
        frontend, encoder, _, cfg = R.load_encoder(run_dir)
        return frontend, encoder, cfg
    return R.load_classifier(classifier_stage(run_dir, classifier, task, fold))


def classifier_stage(run_dir, run: str, task: Optional[str], fold: Optional[str]) -> Path:
    mode, init = run.split("-")
    stage = R.downstream_dir(run_dir, D.task_name(task), mode, init)
    folds = sorted(p.name for p in stage.glob("cv*"))
    if folds:
        stage = stage / (fold or "cv1")
    elif fold:
        raise core.RunDirError(f"{stage} has no folds; drop --fold")
    return stage


def full_scale_signals(sample_rate: int, num_samples: int):
    t = np.arange(num_samples) / sample_rate
    rng = np.random.default_rng(0)
    return {"full_scale_square": np.sign(np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None],
            "full_scale_noise": np.clip(rng.standard_normal(num_samples), -1, 1).astype(np.float32)[None]}


def verify_export(export_dir: Path, fe: ColaFrontendConfig, main: str, tflite: bool) -> dict:
    """Reload; silence / noise / tone / full-scale at 0.5 s and 2.5 s give finite,
    well-shaped output; TFLite equals the SavedModel (relative difference <= 1e-3 on
    broadband inputs, 3e-2 on tonal ones, each recorded); float16 TFLite stays finite."""
    fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    sr = fe.sample_rate
    checks, worst = {}, 0.0
    if tflite:
        lite_fn = TFLiteRunner(export_dir / "model.tflite")
        half_fn = TFLiteRunner(export_dir / "model_float16.tflite")
    for seconds in (0.5, 2.5):
        inputs = dict(check_signals(sr, seconds))
        inputs.update(full_scale_signals(sr, int(sr * seconds)))
        for name, x in inputs.items():
            out = {k: v.numpy() for k, v in fn(waveform=tf.constant(x)).items()}
            expect = max(1, int(max(len(x[0]), M.segment_samples(fe)) - fe.frame_length) // fe.frame_step + 1)
            expect //= fe.segment_frames
            seg_key = [k for k in out if k.startswith("segment_")][0]
            if not (all(np.all(np.isfinite(v)) for v in out.values()) and out[seg_key].shape[1] == expect):
                raise ExportError(f"{export_dir}: SavedModel gives ill-formed output on {name} ({seconds} s)")
            entry = {}
            if tflite:
                lite = lite_fn({"waveform": x})
                scale = max(1.0, float(np.abs(out[main]).max()))
                diff = max(float(np.abs(lite[k] - out[k]).max()) for k in out) / scale
                entry["tflite_rel_diff"] = diff
                tol = TONAL_PARITY_TOLERANCE if name in TONAL else PARITY_TOLERANCE
                if name not in TONAL:
                    worst = max(worst, diff)
                if not diff <= tol:
                    raise ExportError(f"{export_dir}: TFLite differs from the SavedModel by {diff:.2e} (relative) "
                                      f"on {name} ({seconds} s)")
                half = half_fn({"waveform": x})
                if not all(np.all(np.isfinite(v)) for v in half.values()):
                    raise ExportError(f"{export_dir}: float16 TFLite gives non-finite output on {name}")
                entry["float16_max_abs_diff"] = float(np.abs(half[main] - out[main]).max())
            checks[f"{name}_{seconds}s"] = entry
    out = fn(waveform=tf.zeros([2, 3 * sr]))
    if out[main].shape[0] != 2:
        raise ExportError(f"{export_dir}: wrong batch size for a 2 x {3 * sr} input")
    return {"inputs": checks, "tflite_max_rel_diff": worst if tflite else None,
            "tflite_tolerance": {"broadband": PARITY_TOLERANCE, "tonal": TONAL_PARITY_TOLERANCE}}


def _export(serving, base_dir, name: str, main: str, fe, meta: dict, assets=None, version=None,
            tflite: bool = True) -> Path:
    def write_saved_model(tmp: Path):
        tf.saved_model.save(serving, str(tmp), signatures={"serving_default": serving.serve})

    def write_tflite(tmp: Path, path: Path):
        write_bytes(path, serving.tflite_bytes())
        write_bytes(tmp / "model_float16.tflite", serving.tflite_bytes("float16"))

    return export_version(base_dir, name, write_saved_model, write_tflite if tflite else None,
                          lambda tmp: verify_export(tmp, fe, main, tflite), assets=assets, metadata=meta,
                          version=version)


def export_encoder(run_dir, base_dir="exported_models", version: Optional[int] = None, tflite: bool = True) -> Path:
    run_dir = Path(run_dir)
    frontend, encoder, cfg = load_model(run_dir)
    serving = EncoderServing(frontend, encoder, cfg.frontend)
    meta = {"model": "cola", "kind": "encoder", "run_dir": str(run_dir.resolve()),
            "sample_rate": cfg.frontend.sample_rate, "segment_samples": M.segment_samples(cfg.frontend),
            "embedding_dim": int(encoder.output.shape[-1]),
            "best_dev_loss": core.stage_state(run_dir / PRETRAIN).get("best"), "config": to_dict(cfg)}
    return _export(serving, base_dir, "cola", "embedding", cfg.frontend, meta, version=version, tflite=tflite)


def export_classifier(run_dir, run: str, task: Optional[str] = None, fold: Optional[str] = None,
                      base_dir="exported_models", version: Optional[int] = None, tflite: bool = True) -> Path:
    run_dir = Path(run_dir)
    stage = classifier_stage(run_dir, run, task, fold)
    frontend, encoder, head, cfg, classes = R.load_classifier(stage)
    serving = ClassifierServing(frontend, encoder, head, cfg.frontend)
    name = f"cola_{D.task_name(task)}"
    meta = {"model": "cola", "kind": "classifier", "run": run, "stage_dir": str(stage.resolve()),
            "sample_rate": cfg.frontend.sample_rate, "segment_samples": M.segment_samples(cfg.frontend),
            "classes": classes, "best_dev_accuracy": core.stage_state(stage).get("best"), "config": to_dict(cfg)}
    return _export(serving, base_dir, name, "probabilities", cfg.frontend, meta,
                   assets={"class_names.txt": "\n".join(classes) + "\n"}, version=version, tflite=tflite)


def serving_functions(recipe: str = "cola/embedded") -> dict:
    """``{model name: {signature: concrete function}}`` of the encoder export and of a
    classifier export on the embedded task, ``recipe``'s model with untrained weights
    (the README's signature table: names, dtypes, shapes)."""
    from tfaudio.config import from_dict, load_recipe
    from tfaudio.datasets.recordings_embedded import LABELLED_FAMILIES
    from tfaudio.systems.cola.config import ColaConfig

    cfg = from_dict(ColaConfig, load_recipe(recipe), where=recipe)
    frontend, encoder = M.make_frontend(cfg.frontend), M.build_encoder(cfg.model, cfg.frontend)
    head = M.make_classifier_head(len(LABELLED_FAMILIES), encoder.output.shape[-1])
    enc = EncoderServing(frontend, encoder, cfg.frontend)
    clf = ClassifierServing(frontend, encoder, head, cfg.frontend)
    return {"cola": {"serving_default": enc.serve.get_concrete_function()},
            f"cola_{D.EMBEDDED_TASK}": {"serving_default": clf.serve.get_concrete_function()}}
