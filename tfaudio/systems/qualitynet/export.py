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
from tfaudio.export.core import OWNER_FILE
from tfaudio.systems.qualitynet.manifest import ManifestError
from tfaudio.atomic import write_bytes
from tfaudio.export.core import ExportError, check_signals, convert_tflite, export_version
from tfaudio.systems.qualitynet.model import QualityNet, QualityNetConfig, valid_frame_count
from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer
from tfaudio.training import core
from tfaudio.systems.qualitynet import data as D
from tfaudio.systems.qualitynet import run as R
from tfaudio.systems.qualitynet.config import QualityNetRunConfig, resolve_config

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
    if model.config.center:
        from tfaudio.systems.qualitynet.streaming import stream_function

        module.stream = stream_function(model)
    return module


def saved_model_signatures(serving: tf.Module) -> Dict[str, object]:
    """The SavedModel's signatures (``stream`` only for centred-frame models)."""
    sigs = {"serving_default": serving.score, "frame_scores": serving.frame_scores,
            "padded_scores": serving.padded_scores}
    if hasattr(serving, "stream"):
        sigs["stream"] = serving.stream
    return sigs


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


def convert_stream_tflite(model: QualityNet, path=None, quantization: Optional[str] = None) -> bytes:
    """The streaming twin (:mod:`tfaudio.systems.qualitynet.streaming`): builtin ops,
    one signature ``serving_default``: ``waveform [1, n]``, ``h``, ``c`` ``[1, units]``,
    ``peak [1]``, ``emit []`` int32 -> ``frame_scores [1, emit]``, ``h``, ``c``."""
    from tfaudio.systems.qualitynet.streaming import stream_function

    if not model.built:
        model.build((None, None))
    fn = stream_function(model)
    data = convert_tflite(lambda waveform, h, c, peak, emit: model.stream_step(waveform, h, c, peak, emit),
                          fn.input_signature, track=model, quantization=quantization)
    if path is not None:
        write_bytes(path, data)
    return data


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
STREAM_FILE = "model_stream.tflite"
#: Streaming checks: look-ahead / hop (frames) and how far the TFLite twin may differ.
STREAM_CHECK = {"lookahead": 64, "hop": 64}

README = """\
Quality-Net (non-intrusive speech quality, PESQ-like scale) exported by tfaudio.

SavedModel signatures (waveform: float32 [batch, samples], 16 kHz mono, any length):
  serving_default(waveform)          -> score [batch]
  frame_scores(waveform)             -> frame_scores [batch, 1 + samples // 256], score [batch]
  padded_scores(waveform, lengths)   -> score, frame_scores, frame_mask  (right-padded batch,
                                        lengths = valid samples per row, int32 [batch])
  stream(waveform, h, c, peak, emit) -> frame_scores [1, emit], h, c  (one streaming step:
                                        see model_stream.tflite below)

TFLite (model.tflite, builtin ops only; model_float16 / model_int8 if present):
  signature serving_default, input waveform float32 [1, n] (shape signature [1, -1]),
  outputs score [1], frame_scores [1, 1 + n // 256].
  Per clip length: resize_tensor_input(input, [1, n]); allocate_tensors(); set_tensor(input, x);
  invoke(); get_tensor(score). The same length can be invoked again without re-allocating.
  Python: ai_edge_litert.interpreter.Interpreter(model_path=..., num_threads=1)
          .get_signature_runner("serving_default")(waveform=x[None, :])

Streaming (model_stream.tflite, builtin ops, signature serving_default), for frame scores
as audio arrives. Keep the samples of the frames not yet scored; frame t covers samples
t*256-256 .. t*256+256 (zeros before the start). Each step scores frames s..s+hop-1 once
lookahead more frames have arrived:
  inputs  waveform float32 [1, (hop + lookahead + 1) * 256]  (samples from s*256-256),
          h, c float32 [1, units]  (zeros at the start, then the outputs of the last step),
          peak float32 [1]         (running peak of the stream, or a fixed one),
          emit int32 []            (hop: a multiple of 16; at the end of the stream, the
                                    frames left, 1 + n // 256 in all, with zeros after the end)
  outputs frame_scores [1, emit], h, c.
The forward LSTM state is carried, the backward one looks lookahead frames ahead; the last
step equals whole-file scoring. Python: tfaudio.systems.qualitynet.streaming.
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
                  tflite: bool = True, quantize: Sequence[str] = (), stream: bool = False) -> dict:
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
    wave, lengths = D.pad_batch(clips)
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
    if stream:
        checks["stream"] = _verify_stream(export_dir, sigs, c, inputs, ref)
    return checks


def _verify_stream(export_dir: Path, sigs, c: QualityNetConfig, inputs, ref) -> dict:
    """Stream the longest check inputs through the SavedModel's ``stream`` signature and
    through ``model_stream.tflite``: the two must agree (:data:`PARITY_TOLERANCE`); the
    difference to whole-file scoring is recorded (last step: must be exact)."""
    from tfaudio.systems.qualitynet import streaming as S

    if "stream" not in sigs:
        raise ExportError(f"{export_dir}: SavedModel lacks the 'stream' signature")
    longest = max(CHECK_SECONDS)
    names = [k for k in inputs if k.endswith(f"_{longest:g}s") and not k.startswith("silence")]
    kw = dict(lookahead=STREAM_CHECK["lookahead"], hop=STREAM_CHECK["hop"],
              frame_step=c.frame_step, frame_length=c.frame_length,
              sample_rate=c.sample_rate, chunk=c.lstm_chunk)
    worst = {"tflite_vs_saved_model": 0.0, "vs_whole_file": 0.0, "last_step_vs_whole_file": 0.0,
             "score_vs_whole_file": 0.0}
    for name in names:
        x = inputs[name]
        peak = float(np.max(np.abs(x))) or 1.0
        tf_scores = S.stream_file_scores(
            S.StreamingScorer(S.saved_model_step(sigs["stream"]), c.lstm_units, peak=peak, **kw), x)
        lite = S.StreamingScorer(S.tflite_step(export_dir / STREAM_FILE), c.lstm_units, peak=peak, **kw)
        lite_scores = S.stream_file_scores(lite, x)
        whole = ref[name][1]
        if tf_scores.shape != whole.shape or lite_scores.shape != whole.shape:
            raise ExportError(f"{export_dir}: streaming gave {tf_scores.shape[0]} / "
                              f"{lite_scores.shape[0]} frame scores on {name}, whole-file "
                              f"{whole.shape[0]}")
        d_lite = float(np.max(np.abs(lite_scores - tf_scores)))
        if not d_lite <= PARITY_TOLERANCE:
            raise ExportError(f"{export_dir}: {STREAM_FILE} differs from the SavedModel's stream "
                              f"signature by {d_lite:.2e} on {name}")
        tail = lite.last_step_frames  # frames of the stream's last step
        d_last = float(np.max(np.abs(tf_scores[-tail:] - whole[-tail:])))
        if not d_last <= 1e-4:
            raise ExportError(f"{export_dir}: the stream's last step differs from whole-file "
                              f"scoring by {d_last:.2e} on {name}")
        worst["tflite_vs_saved_model"] = max(worst["tflite_vs_saved_model"], d_lite)
        worst["last_step_vs_whole_file"] = max(worst["last_step_vs_whole_file"], d_last)
        worst["vs_whole_file"] = max(worst["vs_whole_file"], float(np.max(np.abs(tf_scores - whole))))
        worst["score_vs_whole_file"] = max(worst["score_vs_whole_file"],
                                           abs(float(np.mean(tf_scores)) - ref[name][0]))
    return {"file": STREAM_FILE, "bytes": (export_dir / STREAM_FILE).stat().st_size,
            "lookahead_frames": kw["lookahead"], "hop_frames": kw["hop"],
            "inputs": names, "max_abs_diff": worst}


def _size(folder: Path, exclude_suffix: str) -> int:
    """Bytes of the files that ship (not the in-progress export's owner record)."""
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and p.suffix != exclude_suffix and p.name != OWNER_FILE)


def _real_clips(run_dir: Path, manifest, sample_rate: int, n: int = 2):
    """The cleanest ``n`` clips of ``manifest``, else of the run's own dev manifest."""
    import json

    if manifest is None:
        used = json.loads((R.stage_dir(run_dir) / "config.json").read_text()).get("data_used", {})
        dev = used.get("dev")
        manifest = dev if dev and Path(dev).is_file() else None
    if manifest is None:
        log.warning("no manifest for real clips in the export checks; synthetic signals only")
        return []
    try:
        qset = D.load_quality_set(manifest, sample_rate, skip_bad=True, progress=False, name="checks")
    except (AudioError, ManifestError, OSError) as exc:  # data may be absent on the exporting machine
        log.warning("no real clips for the export checks (%s); synthetic signals only", exc)
        return []
    order = np.argsort(-qset.scores)  # the cleanest clips first (speech, not noise)
    return [qset.waves[i] for i in order[:n]]


def load_model(run_dir="runs/qualitynet"):
    """``(model, config)`` of a trained run (best checkpoint); the model takes a waveform."""
    return R.load_trained_model(run_dir)


def export_qualitynet(run_dir="runs/qualitynet", base_dir="exported_models", version: Optional[int] = None,
                      tflite: bool = True, quantize: Sequence[str] = (), manifest=None,
                      extra_metadata: Optional[dict] = None, finalize=None) -> Path:
    """Export ``run_dir``'s best checkpoint as ``<base_dir>/qualitynet/<version>``
    (with ``model_stream.tflite`` beside the TFLite model for centred-frame models)."""
    run_dir = Path(run_dir)
    quantize = list(dict.fromkeys(quantize or ()))
    bad = [q for q in quantize if q not in QUANTIZATIONS]
    if bad:
        raise ExportError(f"unknown quantization(s) {bad}; choose from {QUANTIZATIONS}")
    if quantize and not tflite:
        raise ExportError("--quantize needs the TFLite export (drop --no-tflite)")
    if not core.stage_complete(R.stage_dir(run_dir)) and not (R.stage_dir(run_dir) / "best").exists():
        raise core.RunDirError(f"{run_dir}: no trained Quality-Net run to export (train one first)")
    if version is not None and (Path(base_dir) / MODEL_NAME / str(version)).exists():
        raise ExportError(f"{Path(base_dir) / MODEL_NAME / str(version)} exists; versions are never overwritten")
    model, cfg = R.load_trained_model(run_dir)
    serving = qualitynet_serving_module(model)
    real = _real_clips(run_dir, manifest, cfg.model.sample_rate)
    stream = tflite and hasattr(serving, "stream")

    def write_saved_model(tmp: Path):
        tf.saved_model.save(serving, str(tmp), signatures=saved_model_signatures(serving))

    def write_tflite(tmp: Path, path: Path):
        convert_qualitynet_tflite(model, path)
        for q in quantize:
            convert_qualitynet_tflite(model, tmp / f"model_{q}.tflite", quantization=q)
        if stream:
            convert_stream_tflite(model, tmp / STREAM_FILE)

    def verify(tmp: Path) -> dict:
        return verify_export(tmp, cfg.model, real, tflite, quantize, stream=stream)

    state = core.stage_state(R.stage_dir(run_dir))
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
            **({"stream": "waveform [1, n], h, c [1, units], peak [1], emit [] int32 -> "
                          "frame_scores [1, emit], h, c"} if hasattr(serving, "stream") else {}),
        },
        "tflite": ({"files": ["model.tflite"] + [f"model_{q}.tflite" for q in quantize]
                    + ([STREAM_FILE] if stream else []),
                    "calling_convention": "signature serving_default: waveform float32 [1, n] "
                    "(resize per length) -> score [1], frame_scores [1, 1 + n // 256]"}
                   if tflite else None),
        "config": to_dict(cfg),
        **(extra_metadata or {}),
    }
    return export_version(base_dir, MODEL_NAME, write_saved_model, write_tflite if tflite else None,
                          verify, assets={"README.txt": README}, metadata=meta, version=version,
                          finalize=finalize)


def newest_export(base_dir="exported_models") -> Optional[Path]:
    """The highest-numbered complete version under ``<base_dir>/qualitynet`` (or None)."""
    from tfaudio.export.versions import latest_version

    return latest_version(Path(base_dir) / MODEL_NAME)


def serving_functions(recipe: str = "qualitynet/embedded") -> dict:
    """``{signature: concrete function}`` of an export of ``recipe``'s model, with untrained
    weights (for the README's signature table: names, dtypes, shapes)."""
    from tfaudio.config import from_dict, load_recipe

    cfg = resolve_config(from_dict(QualityNetRunConfig, load_recipe(recipe), where=recipe))
    m = qualitynet_serving_module(QualityNet(cfg.model))
    return {k: f.get_concrete_function() for k, f in saved_model_signatures(m).items()}
