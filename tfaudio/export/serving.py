"""TF Serving artefacts: warmup requests in every export, a models.config, a signature table.

* :func:`write_warmup_requests` writes ``assets.extra/tf_serving_warmup_requests`` into
  a version folder: ``PredictionLog`` records (``tensorflow-serving-api`` protos) that
  TF Serving replays when it loads the version, so the first real request does not
  pay for graph initialisation. One silence and one 440 Hz tone request per
  signature, built from the signature's input specs alone (:func:`example_inputs`),
  so every system's export gets them from :func:`tfaudio.export.core.export_version`.
* :func:`write_serving_config` writes ``<base>/models.config`` (a ``ModelServerConfig``
  text proto) naming every model below ``exported_models/``, serving its latest version.
* :func:`signature_table` / :func:`update_readme` render every registered system's
  serving signatures (input / output names, dtypes, shapes) between markers in the
  README, from the code (:func:`registered_signatures`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfaudio.atomic import write_text
from tfaudio.errors import ExportError
from tfaudio.export.versions import latest_version

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
SERVING_CONFIG = "models.config"
TABLE_START = "<!-- serving-signatures:start (generated: python -m tfaudio.export.serving --readme README.md) -->"
TABLE_END = "<!-- serving-signatures:end -->"

# ----------------------------------------------------------------------------------
# signature specs
# ----------------------------------------------------------------------------------
#: ``{input or output name: (dtype name, shape with None for any size)}``
Specs = Dict[str, Tuple[str, Tuple[Optional[int], ...]]]


def saved_model_signatures(export_dir) -> Dict[str, Tuple[Specs, Specs]]:
    """``{signature: (inputs, outputs)}`` read from ``saved_model.pb`` (no loading)."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((Path(export_dir) / "saved_model.pb").read_bytes())
    graphs = [g for g in sm.meta_graphs if "serve" in g.meta_info_def.tags] or list(sm.meta_graphs)
    if not graphs:
        raise ExportError(f"{export_dir}: the SavedModel has no meta graph")

    def specs(infos) -> Specs:
        out = {}
        for name, info in infos.items():
            shape = tf.TensorShape(info.tensor_shape)
            dims = tuple(shape.as_list()) if shape.rank is not None else None
            out[name] = (tf.dtypes.as_dtype(info.dtype).name, dims)
        return out

    return {k: (specs(s.inputs), specs(s.outputs)) for k, s in sorted(graphs[0].signature_def.items())
            if not k.startswith("__")}


def function_signatures(functions: Mapping[str, object]) -> Dict[str, Tuple[Specs, Specs]]:
    """The same, from ``{signature: tf.function with an input_signature}`` (no export)."""
    out = {}
    for sig, fn in sorted(functions.items()):
        concrete = fn.get_concrete_function() if hasattr(fn, "get_concrete_function") else fn
        args, kwargs = concrete.structured_input_signature
        flat = list(kwargs.values()) + [a for a in tf.nest.flatten(args)]
        inputs = {s.name: (s.dtype.name, tuple(s.shape.as_list())) for s in flat}
        outputs = {k: (v.dtype.name, tuple(v.shape.as_list()))
                   for k, v in concrete.structured_outputs.items()}
        out[sig] = (inputs, outputs)
    return out


# ----------------------------------------------------------------------------------
# warmup requests
# ----------------------------------------------------------------------------------
def example_inputs(inputs: Specs, sample_rate: int = 16000, seconds: float = 0.5) -> List[Dict[str, np.ndarray]]:
    """A silence and a 440 Hz tone request for a signature, from its input specs alone.

    A float input is a waveform: any-size axes become batch 1 (the first) and
    ``seconds * sample_rate`` samples (the others); fixed axes keep their size. An
    integer input of shape ``[batch]`` is a per-row length: the waveform's length.
    Any other input is zeros (integers, floats) or empty strings.
    """
    n = max(int(round(sample_rate * seconds)), 1)
    requests = []
    for kind in ("silence", "tone"):
        req: Dict[str, np.ndarray] = {}
        floats = {k: v for k, v in inputs.items() if v[0].startswith(("float", "bfloat"))}
        length = n
        for name, (dtype, shape) in floats.items():
            dims = [1 if i == 0 and d is None else (n if d is None else d) for i, d in enumerate(shape or (None, None))]
            length = dims[-1] if len(dims) > 1 else length
            x = np.zeros(dims, np.float64)
            if kind == "tone":
                t = np.arange(dims[-1]) / float(sample_rate)
                x = x + 0.5 * np.sin(2 * np.pi * 440.0 * t)
            req[name] = x.astype(tf.dtypes.as_dtype(dtype).as_numpy_dtype)
        for name, (dtype, shape) in inputs.items():
            if name in req:
                continue
            dims = [1 if i == 0 and d is None else (1 if d is None else d) for i, d in enumerate(shape or ())]
            np_dtype = tf.dtypes.as_dtype(dtype).as_numpy_dtype
            if dtype.startswith(("int", "uint")) and len(dims) == 1:
                req[name] = np.full(dims, length, np_dtype)
            elif dtype == "string":
                req[name] = np.full(dims, b"", object)
            else:
                req[name] = np.zeros(dims, np_dtype)
        requests.append(req)
    return requests


def _prediction_log(model_name: str, signature: str, inputs: Mapping[str, np.ndarray]):
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(export_dir, model_name: str, sample_rate: int = 16000) -> dict:
    """Write the warmup file of a version folder; returns ``{file, requests, signatures}``."""
    export_dir = Path(export_dir)
    sigs = saved_model_signatures(export_dir)
    path = export_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, (inputs, _) in sigs.items():
            for req in example_inputs(inputs, sample_rate):
                writer.write(_prediction_log(model_name, signature, req).SerializeToString())
                count += 1
    return {"file": str(WARMUP_FILE), "requests": count, "signatures": sorted(sigs)}


def read_warmup_requests(export_dir) -> Iterator[Tuple[str, str, Dict[str, np.ndarray]]]:
    """``(model name, signature, {input: array})`` of every record of the warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2

    for record in tf.data.TFRecordDataset(str(Path(export_dir) / WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        req = log.predict_log.request
        yield (req.model_spec.name, req.model_spec.signature_name,
               {k: tf.make_ndarray(v) for k, v in req.inputs.items()})


def replay_warmup_requests(export_dir, loaded=None) -> int:
    """Run every warmup request through the SavedModel's signature as TF Serving
    would; raises :class:`ExportError` on a failure or a non-finite output. Returns
    the number of requests run."""
    loaded = loaded or tf.saved_model.load(str(export_dir))
    count = 0
    for _, signature, inputs in read_warmup_requests(export_dir):
        if signature not in loaded.signatures:
            raise ExportError(f"{export_dir}: a warmup request names signature {signature!r}, which is absent")
        try:
            out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        except (tf.errors.OpError, TypeError, ValueError) as exc:
            raise ExportError(f"{export_dir}: warmup request for {signature!r} fails: "
                              f"{str(exc).splitlines()[0]}") from None
        for name, value in out.items():
            v = value.numpy()
            if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                raise ExportError(f"{export_dir}: warmup request for {signature!r} gives non-finite {name}")
        count += 1
    if count == 0:
        raise ExportError(f"{export_dir}: the warmup file holds no request")
    return count


# ----------------------------------------------------------------------------------
# models.config
# ----------------------------------------------------------------------------------
def served_models(base_dir) -> List[str]:
    """Models under ``base_dir``: folders holding at least one complete version."""
    base = Path(base_dir)
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and latest_version(p) is not None)


def serving_config_text(models: List[str], model_base_path: str = "/models") -> str:
    """A ``ModelServerConfig`` text proto serving the latest version of each model."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for name in models:
        m = config.model_config_list.config.add()
        m.name = name
        m.base_path = f"{model_base_path.rstrip('/')}/{name}"
        m.model_platform = "tensorflow"
        m.model_version_policy.latest.num_versions = 1
    return text_format.MessageToString(config)


def write_serving_config(base_dir="exported_models", model_base_path: str = "/models") -> Path:
    """Write ``<base_dir>/models.config`` atomically for every model below it.
    ``model_base_path``: where ``base_dir`` is seen by the model server (the mount
    point in its container, or ``base_dir``'s absolute path for a local server)."""
    base = Path(base_dir)
    if not base.is_dir():
        raise ExportError(f"{base}: no such folder of exported models")
    models = served_models(base)
    if not models:
        raise ExportError(f"{base}: no exported model (a <model>/<version>/saved_model.pb) to serve")
    path = base / SERVING_CONFIG
    write_text(path, serving_config_text(models, model_base_path))
    return path


# ----------------------------------------------------------------------------------
# the README's signature table
# ----------------------------------------------------------------------------------
def registered_signatures() -> Dict[str, Dict[str, Tuple[Specs, Specs]]]:
    """``{model: {signature: (inputs, outputs)}}`` of every registered system whose
    command-line module has ``serving_signatures()`` (the default recipe's export
    functions, built with untrained weights: names, dtypes and shapes only)."""
    import importlib

    from tfaudio.registry import systems

    out: Dict[str, Dict[str, Tuple[Specs, Specs]]] = {}
    for _, module in systems().items():
        mod = importlib.import_module(module)
        if hasattr(mod, "serving_signatures"):
            for model, functions in mod.serving_signatures().items():
                out[model] = function_signatures(functions)
    return dict(sorted(out.items()))


def _shape(dims) -> str:
    if dims is None:
        return "any"
    return "[" + ", ".join("-1" if d is None else str(d) for d in dims) + "]"


def signature_table(signatures: Mapping[str, Mapping[str, Tuple[Specs, Specs]]]) -> str:
    """Markdown: one row per input / output of every signature (-1: any size)."""
    rows = ["| model | signature | in/out | name | dtype | shape |", "|---|---|---|---|---|---|"]
    for model, sigs in signatures.items():
        for sig, (inputs, outputs) in sigs.items():
            for direction, specs in (("in", inputs), ("out", outputs)):
                for name, (dtype, dims) in sorted(specs.items()):
                    rows.append(f"| {model} | {sig} | {direction} | `{name}` | {dtype} | {_shape(dims)} |")
    return "\n".join(rows) + "\n"


def replace_between_markers(text: str, body: str) -> str:
    pattern = re.compile(re.escape(TABLE_START) + r".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise ExportError("README has no serving-signature markers")
    return pattern.sub(lambda _: f"{TABLE_START}\n{body}{TABLE_END}", text)


def update_readme(readme="README.md") -> bool:
    """Rewrite the signature table in ``readme``; True when it changed."""
    path = Path(readme)
    old = path.read_text(encoding="utf-8")
    new = replace_between_markers(old, signature_table(registered_signatures()))
    if new != old:
        write_text(path, new)
    return new != old


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tfaudio.export.serving",
                                description="Regenerate the README's table of serving signatures.")
    p.add_argument("--readme", default="README.md")
    args = p.parse_args(argv)
    changed = update_readme(args.readme)
    print(f"{args.readme}: signature table {'updated' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
