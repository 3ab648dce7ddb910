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

from tfaudio.export.litert import TFLiteRunner


class TFLiteQualityScorer:
    """Run a converted Quality-Net with the LiteRT interpreter (the on-device path).

    ``scorer(waveform)`` takes a 1-D float array (16 kHz mono) and returns
    ``{"score": float, "frame_scores": np.ndarray [frames]}``. The interpreter is
    re-allocated only when the clip length changes (:class:`TFLiteRunner`).
    """

    def __init__(self, model: Union[bytes, str, os.PathLike], num_threads: Optional[int] = 1):
        self.runner = TFLiteRunner(model, num_threads=num_threads)
        names = self.runner.outputs
        if {"score", "frame_scores"} <= set(names):
            self._score, self._frames = "score", "frame_scores"
        else:  # converted without a signature: tell the outputs apart by rank
            by_rank = {self.runner.output_ranks[i]: n for n, i in names.items()}
            self._score, self._frames = by_rank[1], by_rank[2]

    def __call__(self, waveform) -> dict:
        x = np.asarray(waveform, dtype=np.float32).reshape(1, -1)
        if x.shape[1] < 1:
            raise ValueError("waveform must hold at least one sample")
        out = self.runner(x)
        return {"score": float(out[self._score][0]), "frame_scores": out[self._frames][0]}
