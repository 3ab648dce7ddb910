"""Export a trained Quality-Net run: SavedModel (TF Serving) + builtin-ops TFLite.

``<out>/qualitynet/<version>/`` (next free version, written atomically by
:func:`tfaudio.export.core.export_version`, never overwritten):

* ``saved_model.pb`` + ``variables/`` with three signatures, all taking
  ``waveform`` float32 ``[batch, samples]`` (16 kHz mono, any length, any scale:
  the model peak-normalises each row):

  - ``serving_default``: -> ``score [batch]`` (utterance quality, PESQ-like scale);
  - ``frame_scores``: -> ``frame_scores [batch, 1 + samples // 256]`` and ``score``;
  - ``padded_scores``: plus ``lengths`` int32 ``[batch]`` for a right-padded batch of
    clips of different lengths -> ``score``, ``frame_scores``, ``frame_mask``
    (padding never changes a score). In the first two every row counts as valid.

* ``model.tflite``: builtin ops only, the model module's on-device calling
  convention (:mod:`tfaudio.systems.qualitynet.model`): signature ``serving_default``,
  input ``waveform [1, n]`` resized per clip length, outputs ``score [1]`` and
  ``frame_scores [1, 1 + n // 256]``. Optional ``model_float16.tflite`` /
  ``model_int8.tflite`` (float16 weights / int8 dynamic-range weights).
* ``assets/README.txt`` (this calling convention) and ``export.json`` (config,
  source checkpoint, and the checks below with their measured numbers).

Checks before the version appears: the SavedModel is reloaded and every signature
gives finite, well-shaped output on silence, white noise and a tone at 1 s and 5 s
and on real test clips; a padded batch scores like its clips alone; the float
TFLite model matches the SavedModel within :data:`PARITY_TOLERANCE` (score and
frame scores) on the same inputs. Quantized models must be finite; their largest
score error against the SavedModel is recorded (not bounded).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfaudio.audio import AudioError
from tfaudio.config import to_dict
from tfaudio.systems.qualitynet.manifest import ManifestError
from tfaudio.atomic import write_bytes
from tfaudio.export.core import ExportError, check_signals, convert_tflite, export_version
from tfaudio.systems.qualitynet.model import QualityNet, QualityNetConfig, valid_frame_count
from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer
from tfaudio.training import core
from tfaudio.systems.qualitynet import train as T

log = logging.getLogger(__name__)

_QUANTIZATIONS = (None, "float16", "int8")


# ----------------------------------------------------------------------------
# serving functions and the TFLite twin
# ----------------------------------------------------------------------------
def qualitynet_serving_module(model: QualityNet) -> tf.Module:
    """``tf.Module`` with serving ``tf.function`` s for a SavedModel export.

    * ``score(waveform)``: float32 ``[batch, None]`` -> ``{"score": [batch]}``
    * ``frame_scores(waveform)`` -> ``{"frame_scores": [batch, frames], "score"}``
    * ``padded_scores(waveform, lengths)``: right-padded batch with int32 valid
      sample counts -> ``{"score", "frame_scores", "frame_mask"}``

    All rows of ``waveform`` in the first two are taken as valid.  Save with e.g.
    ``tf.saved_model.save(m, path, signatures={"serving_default": m.score,
    "score": m.score, "frame_scores": m.frame_scores,
    "padded_scores": m.padded_scores})``.
    """
    if not model.built:
        model.build((None, None))

    module = tf.Module(name="qualitynet_serving")
    module.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
    def score(waveform):
        return {"score": model(waveform, training=False)["score"]}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
    def frame_scores(waveform):
        out = model(waveform, training=False)
        return {"frame_scores": out["frame_scores"], "score": out["score"]}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32, name="waveform"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ]
    )
    def padded_scores(waveform, lengths):
        return dict(model(waveform, lengths=lengths, training=False))

    module.score = score
    module.frame_scores = frame_scores
    module.padded_scores = padded_scores
    return module


def qualitynet_tflite_function(model: QualityNet):
    """Concrete function for TFLite: ``waveform [1, None]`` -> score, frame_scores.

    Batch 1 and no ``lengths`` (the whole input is the clip), so the backward
    LSTM uses a plain reverse and every loop tensor has a static shape once the
    clip length is known (see :mod:`tfaudio.layers.recurrent`).

    :func:`convert_qualitynet_tflite` converts it through the one conversion path,
    :func:`tfaudio.export.core.convert_tflite`.
    """
    if not model.built:
        model.build((None, None))

    @tf.function(input_signature=[_TFLITE_INPUT])
    def serve(waveform):
        return _tflite_outputs(model, waveform)

    return serve.get_concrete_function()


_TFLITE_INPUT = tf.TensorSpec([1, None], tf.float32, name="waveform")


def _tflite_outputs(model: QualityNet, waveform) -> Dict[str, tf.Tensor]:
    out = model(waveform, training=False)
    return {"score": out["score"], "frame_scores": out["frame_scores"]}


def convert_qualitynet_tflite(model: QualityNet, path=None, quantization: Optional[str] = None) -> bytes:
    """Builtin-ops-only TFLite flatbuffer with a dynamic samples axis (one signature,
    ``serving_default``: waveform ``[1, None]`` -> ``score``, ``frame_scores``),
    through :func:`tfaudio.export.core.convert_tflite`. ``quantization``: None
    (float32), "float16" or "int8" (dynamic range). Written atomically to ``path`` if
    given. Calling convention: :mod:`tfaudio.systems.qualitynet.model`."""
    if quantization not in _QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {_QUANTIZATIONS}, got {quantization!r}")
    if not model.built:
        model.build((None, None))
    data = convert_tflite(lambda waveform: _tflite_outputs(model, waveform), [_TFLITE_INPUT], track=model,
                          quantization=quantization)
    if path is not None:
        write_bytes(path, data)
    return data

MODEL_NAME = "qualitynet"
PARITY_TOLERANCE = 1e-3
CHECK_SECONDS = (1.0, 5.0)
QUANTIZATIONS = ("float16", "int8")
SIGNATURES = ("serving_default", "frame_scores", "padded_scores")

README = """\
Quality-Net (non-intrusive speech quality, PESQ-like scale) exported by tfaudio.

SavedModel signatures (waveform: float32 [batch, samples], 16 kHz mono, any length):
  serving_default(waveform)          -> score [batch]
  frame_scores(waveform)             -> frame_scores [batch, 1 + samples // 256], score [batch]
  padded_scores(waveform, lengths)   -> score, frame_scores, frame_mask  (right-padded batch,
                                        lengths = valid samples per row, int32 [batch])

TFLite (model.tflite, builtin ops only; model_float16 / model_int8 if present):
  signature serving_default, input waveform float32 [1, n] (shape signature [1, -1]),
  outputs score [1], frame_scores [1, 1 + n // 256].
  Per clip length: resize_tensor_input(input, [1, n]); allocate_tensors(); set_tensor(input, x);
  invoke(); get_tensor(score). The same length can be invoked again without re-allocating.
  Python: ai_edge_litert.interpreter.Interpreter(model_path=..., num_threads=1)
          .get_signature_runner("serving_default")(waveform=x[None, :])
"""


def _inputs(sample_rate: int, real: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
    """Check signals (silence / noise / tone) and real clips, each at every CHECK_SECONDS."""
    out = {}
    for sec in CHECK_SECONDS:
        for name, x in check_signals(sample_rate, sec).items():
            out[f"{name}_{sec:g}s"] = x[0]
        n = int(sec * sample_rate)
        for i, clip in enumerate(real):
            out[f"clip{i}_{sec:g}s"] = np.resize(clip, n).astype(np.float32)  # repeats if short
    return out


def verify_export(export_dir, config: Optional[QualityNetConfig] = None, real: Sequence[np.ndarray] = (),
                  tflite: bool = True, quantize: Sequence[str] = ()) -> dict:
    """Reload what was written and check it (module docstring); raises ExportError."""
    export_dir = Path(export_dir)
    c = config or QualityNetConfig()
    sample_rate = c.sample_rate
    loaded = tf.saved_model.load(str(export_dir))
    missing = [s for s in SIGNATURES if s not in loaded.signatures]
    if missing:
        raise ExportError(f"{export_dir}: SavedModel lacks signature(s) {missing}")
    sigs = loaded.signatures
    inputs = _inputs(sample_rate, real)
    ref = {}
    for name, x in inputs.items():
        w = tf.constant(x[None, :])
        score = sigs["serving_default"](waveform=w)["score"].numpy()
        fr = sigs["frame_scores"](waveform=w)
        frames, score2 = fr["frame_scores"].numpy(), fr["score"].numpy()
        expect = int(valid_frame_count(len(x), c.frame_length, c.frame_step, c.center))
        if score.shape != (1,) or frames.shape[0] != 1 or not np.all(np.isfinite(score)) \
                or not np.all(np.isfinite(frames)):
            raise ExportError(f"{export_dir}: SavedModel gives ill-formed output on {name} "
                              f"(score {score}, frames shape {frames.shape})")
        if frames.shape[1] != expect:
            raise ExportError(f"{export_dir}: {frames.shape[1]} frame scores for {len(x)} samples, "
                              f"expected {expect}")
        if abs(float(score[0]) - float(score2[0])) > 1e-5:
            raise ExportError(f"{export_dir}: serving_default and frame_scores disagree on {name}")
        ref[name] = (float(score[0]), frames[0])

    # a right-padded batch of different lengths scores like its clips alone
    names = [k for k in inputs if k.endswith(f"_{CHECK_SECONDS[0]:g}s")][:3]
    clips = [inputs[k][: len(inputs[k]) - 997 * i] for i, k in enumerate(names)]
    wave, lengths = T.pad_batch(clips)
    padded = sigs["padded_scores"](waveform=tf.constant(wave), lengths=tf.constant(lengths))
    alone = [float(sigs["serving_default"](waveform=tf.constant(c[None]))["score"][0]) for c in clips]
    pad_diff = float(np.max(np.abs(padded["score"].numpy() - np.array(alone))))
    if not pad_diff <= 1e-4:
        raise ExportError(f"{export_dir}: padded_scores differs from single-clip scores by {pad_diff:.2e}")

    checks: dict = {
        "inputs": {k: round(v[0], 4) for k, v in ref.items()},
        "padded_vs_single_max_abs_diff": pad_diff,
        "saved_model_bytes": _size(export_dir, exclude_suffix=".tflite"),
    }
    if tflite:
        worst = {"score": 0.0, "frame_scores": 0.0}
        scorer = TFLiteQualityScorer(export_dir / "model.tflite", num_threads=1)
        for name, x in inputs.items():
            out = scorer(x)
            ds = abs(out["score"] - ref[name][0])
            df = float(np.max(np.abs(out["frame_scores"] - ref[name][1]))) \
                if out["frame_scores"].shape == ref[name][1].shape else float("inf")
            if not (ds <= PARITY_TOLERANCE and df <= PARITY_TOLERANCE):  # also catches NaN
                raise ExportError(f"{export_dir}: TFLite differs from the SavedModel on {name} "
                                  f"(score {ds:.2e}, frame scores {df:.2e}; tolerance {PARITY_TOLERANCE})")
            worst["score"] = max(worst["score"], ds)
            worst["frame_scores"] = max(worst["frame_scores"], df)
        checks["tflite"] = {"file": "model.tflite", "bytes": (export_dir / "model.tflite").stat().st_size,
                            "max_abs_diff_vs_saved_model": worst, "tolerance": PARITY_TOLERANCE,
                            "lengths_s": list(CHECK_SECONDS)}
        for q in quantize:
            path = export_dir / f"model_{q}.tflite"
            qs = TFLiteQualityScorer(path, num_threads=1)
            errs = []
            for name, x in inputs.items():
                s = qs(x)["score"]
                if not np.isfinite(s):
                    raise ExportError(f"{export_dir}: {path.name} gives a non-finite score on {name}")
                errs.append(abs(s - ref[name][0]))
            checks[f"tflite_{q}"] = {"file": path.name, "bytes": path.stat().st_size,
                                     "max_abs_score_error": float(max(errs)),
                                     "mean_abs_score_error": float(np.mean(errs))}
    return checks


def _size(folder: Path, exclude_suffix: str) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.suffix != exclude_suffix)


def _real_clips(run_dir: Path, manifest, sample_rate: int, n: int = 2):
    """The cleanest ``n`` clips of ``manifest``, else of the run's own dev manifest."""
    import json

    if manifest is None:
        used = json.loads((T.stage_dir(run_dir) / "config.json").read_text()).get("data_used", {})
        dev = used.get("dev")
        manifest = dev if dev and Path(dev).is_file() else None
    if manifest is None:
        log.warning("no manifest for real clips in the export checks; synthetic signals only")
        return []
    try:
        qset = T.load_quality_set(manifest, sample_rate, skip_bad=True, progress=False, name="checks")
    except (AudioError, ManifestError, OSError) as exc:  # data may be absent on the exporting machine
        log.warning("no real clips for the export checks (%s); synthetic signals only", exc)
        return []
    order = np.argsort(-qset.scores)  # the cleanest clips first (speech, not noise)
    return [qset.waves[i] for i in order[:n]]


def load_model(run_dir="runs/qualitynet"):
    """``(model, config)`` of a trained run (best checkpoint); the model takes a waveform."""
    return T.load_trained_model(run_dir)


def export_qualitynet(run_dir="runs/qualitynet", base_dir="exported_models", version: Optional[int] = None,
                      tflite: bool = True, quantize: Sequence[str] = (), manifest=None) -> Path:
    """Export ``run_dir``'s best checkpoint as ``<base_dir>/qualitynet/<version>``."""
    run_dir = Path(run_dir)
    quantize = list(dict.fromkeys(quantize or ()))
    bad = [q for q in quantize if q not in QUANTIZATIONS]
    if bad:
        raise ExportError(f"unknown quantization(s) {bad}; choose from {QUANTIZATIONS}")
    if quantize and not tflite:
        raise ExportError("--quantize needs the TFLite export (drop --no-tflite)")
    if not core.stage_complete(T.stage_dir(run_dir)) and not (T.stage_dir(run_dir) / "best").exists():
        raise core.RunDirError(f"{run_dir}: no trained Quality-Net run to export (train one first)")
    if version is not None and (Path(base_dir) / MODEL_NAME / str(version)).exists():
        raise ExportError(f"{Path(base_dir) / MODEL_NAME / str(version)} exists; versions are never overwritten")
    model, cfg = T.load_trained_model(run_dir)
    serving = qualitynet_serving_module(model)
    real = _real_clips(run_dir, manifest, cfg.model.sample_rate)

    def write_saved_model(tmp: Path):
        tf.saved_model.save(serving, str(tmp), signatures={
            "serving_default": serving.score,
            "frame_scores": serving.frame_scores,
            "padded_scores": serving.padded_scores,
        })

    def write_tflite(tmp: Path, path: Path):
        convert_qualitynet_tflite(model, path)
        for q in quantize:
            convert_qualitynet_tflite(model, tmp / f"model_{q}.tflite", quantization=q)

    def verify(tmp: Path) -> dict:
        return verify_export(tmp, cfg.model, real, tflite, quantize)

    state = core.stage_state(T.stage_dir(run_dir))
    meta = {
        "model": MODEL_NAME,
        "run_dir": str(run_dir.resolve()),
        "best_epoch": state.get("best_epoch"),
        "best_dev": {state.get("monitor", "dev"): state.get("best")},
        "sample_rate": cfg.model.sample_rate,
        "signatures": {
            "serving_default": "waveform float32 [batch, samples] -> score [batch]",
            "frame_scores": "waveform -> frame_scores [batch, 1 + samples // 256], score",
            "padded_scores": "waveform, lengths int32 [batch] -> score, frame_scores, frame_mask",
        },
        "tflite": ({"files": ["model.tflite"] + [f"model_{q}.tflite" for q in quantize],
                    "calling_convention": "signature serving_default: waveform float32 [1, n] "
                    "(resize per length) -> score [1], frame_scores [1, 1 + n // 256]"}
                   if tflite else None),
        "config": to_dict(cfg),
    }
    return export_version(base_dir, MODEL_NAME, write_saved_model, write_tflite if tflite else None,
                          verify, assets={"README.txt": README}, metadata=meta, version=version)


def newest_export(base_dir="exported_models") -> Optional[Path]:
    """The highest-numbered complete version under ``<base_dir>/qualitynet`` (or None)."""
    model_dir = Path(base_dir) / MODEL_NAME
    versions = [p for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()
                and (p / "saved_model.pb").exists()]
    return max(versions, key=lambda p: int(p.name)) if versions else None


def serving_functions(recipe: str = "qualitynet/embedded") -> dict:
    """``{signature: concrete function}`` of an export of ``recipe``'s model, with untrained
    weights (for the README's signature table: names, dtypes, shapes)."""
    from tfaudio.config import from_dict, load_recipe

    cfg = T.resolve_config(from_dict(T.QualityNetRunConfig, load_recipe(recipe), where=recipe))
    m = qualitynet_serving_module(QualityNet(cfg.model))
    return {"serving_default": m.score.get_concrete_function(), "frame_scores": m.frame_scores.get_concrete_function(),
            "padded_scores": m.padded_scores.get_concrete_function()}
