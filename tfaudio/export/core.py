"""Export: versioned SavedModels in TF Serving layout, TFLite beside them, checked.

``exported_models/<model>/<version>/`` holds ``saved_model.pb``, ``variables/``,
``assets/`` (class names etc.), ``assets.extra/tf_serving_warmup_requests`` (TF
Serving warmup requests for every signature, :mod:`tfaudio.export.serving`),
``model.tflite`` and ``export.json`` (resolved config, source checkpoint, the checks
it passed). A version is built in a hidden temporary
folder next to its final place and renamed into place only after every artifact was
reloaded and checked, so TF Serving never sees a half-written version and an existing
version is never overwritten.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

import numpy as np
import tensorflow as tf

from tfaudio.config import write_json_atomic
from tfaudio.layers.recurrent import configure_tflite_converter
from tfaudio.errors import ExportError  # noqa: F401  (re-exported)
from tfaudio.export.litert import TFLiteRunner, load_tflite, run_tflite  # noqa: F401  (re-exported)
from tfaudio.export.versions import latest_version, next_version  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


def check_signals(sample_rate: int, seconds: float = 1.0, batch: int = 1) -> Dict[str, np.ndarray]:
    """Silence, white noise and a 440 Hz tone: each must give finite, well-formed output."""
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(0)
    sigs = {
        "silence": np.zeros(n),
        "noise": 0.1 * rng.standard_normal(n),
        "tone": 0.5 * np.sin(2 * np.pi * 440.0 * t),
    }
    return {k: np.tile(v.astype(np.float32)[None], (batch, 1)) for k, v in sigs.items()}


def tflite_builtin_converter(converter: tf.lite.TFLiteConverter, quantization: Optional[str] = None):
    """Restrict a converter to builtin ops (the LiteRT pip runtime has no Flex delegate)."""
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":  # dynamic-range: int8 weights, float activations
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization is not None:
        raise ValueError(f"unknown quantization {quantization!r} (float16, int8)")
    return converter


def convert_tflite(fn, input_signature, track, quantization: Optional[str] = None,
                   signature: str = "serving_default") -> bytes:
    """The one TFLite conversion: ``fn`` (inputs named by ``input_signature`` -> dict
    of named outputs) over the Keras layers / models in ``track``, as builtin ops only.

    The function is written as a throw-away ``keras.export.ExportArchive`` SavedModel
    with one endpoint and converted from there: the archive tracks Keras 3 variables
    (which a plain ``tf.Module`` holding a model does not: they would reach LiteRT as
    uninitialised resource variables and the model would run on zeros), and the
    converter freezes them. Loop LSTMs get the flag that keeps them linear-time.
    """
    import keras

    tracked = track if isinstance(track, (list, tuple)) else [track]
    with tempfile.TemporaryDirectory(prefix="tfaudio-tflite-") as tmp:
        archive = keras.export.ExportArchive()
        for obj in tracked:
            archive.track(obj)
        archive.add_endpoint(signature, fn, input_signature=list(input_signature))
        archive.write_out(tmp, verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[signature])
        configure_tflite_converter(conv)
        return tflite_builtin_converter(conv, quantization).convert()


def tflite_ops(model_path_or_bytes) -> set:
    """Names of the operators a TFLite model uses, in every subgraph (``WHILE`` bodies
    included); a Flex op shows as ``CUSTOM``."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = model_path_or_bytes
    if not isinstance(data, (bytes, bytearray)):
        data = Path(data).read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytes(data), 0)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes or []]
    names = {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    return {names.get(c, str(c)) for c in codes}


OWNER_FILE = ".owner"


def _owner_alive(folder: Path) -> bool:
    """Whether the writer that owns a temporary export folder is still running. A
    folder without an owner record counts as alive for an hour (it may be starting)."""
    try:
        owner = json.loads((folder / OWNER_FILE).read_text())
    except (OSError, ValueError):
        try:
            return time.time() - folder.stat().st_mtime < 3600
        except OSError:
            return False
    if owner.get("host") != socket.gethostname():
        return True  # another machine's writer on a shared disk: not ours to judge
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return True


def clean_stale_temporaries(model_dir) -> list:
    """Remove the hidden temporary version folders of exports whose process died."""
    removed = []
    for tmp in Path(model_dir).glob(".tmp-*"):
        if tmp.is_dir() and not _owner_alive(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
            log.info("removed %s (left by an export that did not finish)", tmp)
    return removed


def export_version(
    base_dir,
    model_name: str,
    write_saved_model: Callable[[Path], None],
    write_tflite: Optional[Callable[[Path, Path], None]] = None,
    verify: Optional[Callable[[Path], dict]] = None,
    assets: Optional[Mapping[str, str]] = None,
    metadata: Optional[dict] = None,
    version: Optional[int] = None,
    finalize: Optional[Callable[[Path, dict], None]] = None,
) -> Path:
    """Write the next version of ``model_name`` under ``base_dir`` atomically.

    ``write_saved_model(tmp_dir)`` writes the SavedModel into the temporary version
    folder; ``write_tflite(tmp_dir, tflite_path)`` converts it; ``verify(tmp_dir)``
    reloads everything and returns the checks' results (it raises on failure). TF
    Serving warmup requests for every signature are written (waveforms at
    ``metadata["sample_rate"]``, default 16 kHz) and replayed through the reloaded
    SavedModel. ``finalize(tmp_dir, export_json)`` may then add files derived from
    ``export.json`` (a model card). Only
    then is the folder renamed to ``<base_dir>/<model_name>/<version>``. An explicit
    ``version`` that exists already is an error.
    """
    model_dir = Path(base_dir) / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = version or next_version(model_dir)
    final = model_dir / str(version)
    if final.exists():
        raise ExportError(f"{final} exists; versions are never overwritten")
    clean_stale_temporaries(model_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_dir))
    try:
        write_json_atomic(tmp / OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname()})
        write_saved_model(tmp)
        from tfaudio.export import serving

        rate = int((metadata or {}).get("sample_rate") or 16000)
        warmup = serving.write_warmup_requests(tmp, model_name, sample_rate=rate)
        if assets:
            (tmp / "assets").mkdir(exist_ok=True)
            for name, text in assets.items():
                (tmp / "assets" / name).write_text(text, encoding="utf-8")
        if write_tflite is not None:
            write_tflite(tmp, tmp / "model.tflite")
        checks = verify(tmp) if verify is not None else {}
        warmup["replayed"] = serving.replay_warmup_requests(tmp)  # as TF Serving will on load
        record = {"version": version, "checks": checks, "serving_warmup": warmup,
                  **(metadata or {})}
        write_json_atomic(tmp / "export.json", record)
        if finalize is not None:
            finalize(tmp, json.loads((tmp / "export.json").read_text()))
        if final.exists():  # another exporter won the race
            raise ExportError(f"{final} appeared while exporting; not overwritten")
        (tmp / OWNER_FILE).unlink()
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s", final)
    return final
