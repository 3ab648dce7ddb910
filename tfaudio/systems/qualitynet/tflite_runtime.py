"""Running a converted Quality-Net with the LiteRT interpreter, without TensorFlow.

Importing this module loads only numpy and ``ai_edge_litert`` (about 10 MB), so
``tfaudio-score --tflite`` runs without TensorFlow's ~700 MB. The calling
convention is documented in :mod:`tfaudio.systems.qualitynet.model`, which
re-exports :class:`TFLiteQualityScorer`.
"""
from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np


class TFLiteQualityScorer:
    """Run a converted Quality-Net with the LiteRT interpreter (the on-device path).

    ``scorer(waveform)`` takes a 1-D float array (16 kHz mono) and returns
    ``{"score": float, "frame_scores": np.ndarray [frames]}``.  The interpreter is
    re-allocated only when the clip length changes.
    """

    def __init__(self, model: Union[bytes, str, os.PathLike], num_threads: Optional[int] = 1):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, (bytes, bytearray)):
            self.interpreter = Interpreter(model_content=bytes(model), num_threads=num_threads)
        else:
            self.interpreter = Interpreter(model_path=os.fspath(model), num_threads=num_threads)
        if "serving_default" in self.interpreter.get_signature_list():
            runner = self.interpreter.get_signature_runner("serving_default")
            self._input = runner.get_input_details()["waveform"]["index"]
            outputs = runner.get_output_details()
            self._score = outputs["score"]["index"]
            self._frames = outputs["frame_scores"]["index"]
            del runner  # holds buffer references that would block resizing
        else:  # no signature (e.g. from_concrete_functions): tell outputs by rank
            self._input = self.interpreter.get_input_details()[0]["index"]
            by_rank = {
                len(d["shape_signature"]): d["index"]
                for d in self.interpreter.get_output_details()
            }
            self._score, self._frames = by_rank[1], by_rank[2]
        self._length = None

    def __call__(self, waveform) -> dict:
        x = np.asarray(waveform, dtype=np.float32).reshape(1, -1)
        if x.shape[1] < 1:
            raise ValueError("waveform must hold at least one sample")
        interp = self.interpreter
        if x.shape[1] != self._length:
            interp.resize_tensor_input(self._input, list(x.shape), strict=False)
            interp.allocate_tensors()
            self._length = x.shape[1]
        interp.set_tensor(self._input, x)
        interp.invoke()
        return {
            "score": float(interp.get_tensor(self._score)[0]),
            "frame_scores": interp.get_tensor(self._frames)[0].copy(),
        }
