"""The one LiteRT runner: run a TFLite model by its signature's names, without
TensorFlow (numpy + ``ai_edge_litert`` only, so on-device style scoring starts in a
fraction of a second and a fraction of TensorFlow's memory).

Calling convention of every tfaudio ``model.tflite``: one signature,
``serving_default``; resize each input to the array's shape, allocate, set, invoke,
read outputs by name. :class:`TFLiteRunner` does exactly that and re-allocates only
when an input shape changes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import numpy as np

from tfaudio.errors import ExportError

ModelSource = Union[bytes, bytearray, str, os.PathLike]


def load_tflite(model: ModelSource, num_threads: Optional[int] = None):
    """A LiteRT interpreter for a model file or bytes; anything that is not a TFLite
    model is an :class:`ExportError` naming it."""
    from ai_edge_litert.interpreter import Interpreter

    kw = {"num_threads": num_threads} if num_threads else {}
    in_memory = isinstance(model, (bytes, bytearray))
    where = "model bytes" if in_memory else str(model)
    if not in_memory and not Path(model).is_file():
        raise ExportError(f"{where}: no such TFLite file")
    try:
        if in_memory:
            return Interpreter(model_content=bytes(model), **kw)
        return Interpreter(model_path=os.fspath(model), **kw)
    except ValueError as exc:
        raise ExportError(f"{where}: not a TFLite model ({str(exc).splitlines()[0]})") from exc


class TFLiteRunner:
    """``runner({name: array}) -> {name: array}`` through one signature.

    Inputs are resized to the arrays' shapes (dynamic axes take any length). A model
    converted without signatures is run by position: inputs in order, outputs named
    by their tensor names.
    """

    def __init__(self, model: ModelSource, signature: Optional[str] = None,
                 num_threads: Optional[int] = None):
        self.interpreter = interp = load_tflite(model, num_threads)
        sigs = interp.get_signature_list()
        if sigs:
            key = signature or ("serving_default" if "serving_default" in sigs else next(iter(sigs)))
            if key not in sigs:
                raise ExportError(f"the TFLite model has no signature {key!r} (has {sorted(sigs)})")
            runner = interp.get_signature_runner(key)
            self.inputs = {k: d["index"] for k, d in runner.get_input_details().items()}
            self.outputs = {k: d["index"] for k, d in runner.get_output_details().items()}
            del runner  # holds buffer references that would block resizing
        else:
            self.inputs = {d["name"]: d["index"] for d in interp.get_input_details()}
            self.outputs = {d["name"]: d["index"] for d in interp.get_output_details()}
        self.output_ranks = {d["index"]: len(d["shape_signature"]) for d in interp.get_output_details()}
        self._shapes: Dict[int, tuple] = {}

    def __call__(self, inputs: Union[Mapping[str, np.ndarray], np.ndarray]) -> Dict[str, np.ndarray]:
        if not isinstance(inputs, Mapping):
            if len(self.inputs) != 1:
                raise ValueError(f"the model takes {sorted(self.inputs)}; pass a dict")
            inputs = {next(iter(self.inputs)): inputs}
        interp = self.interpreter
        arrays = {}
        for name, value in inputs.items():
            if name not in self.inputs:
                raise ValueError(f"unknown input {name!r} (model inputs: {sorted(self.inputs)})")
            arrays[self.inputs[name]] = np.asarray(value, order="C")  # keeps 0-d scalars
        if any(self._shapes.get(i) != a.shape for i, a in arrays.items()):
            for i, a in arrays.items():
                interp.resize_tensor_input(i, list(a.shape), strict=False)
            interp.allocate_tensors()
            self._shapes = {i: a.shape for i, a in arrays.items()}
        for i, a in arrays.items():
            interp.set_tensor(i, a)
        interp.invoke()
        return {name: interp.get_tensor(i).copy() for name, i in self.outputs.items()}


def run_tflite(model: ModelSource, inputs: Union[Mapping[str, np.ndarray], np.ndarray],
               signature: Optional[str] = None, num_threads: Optional[int] = None) -> Dict[str, np.ndarray]:
    """One call of a TFLite model (see :class:`TFLiteRunner`)."""
    return TFLiteRunner(model, signature, num_threads)(inputs)
