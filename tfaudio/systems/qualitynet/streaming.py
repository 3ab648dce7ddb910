"""Streaming Quality-Net scores: load once, feed audio in chunks of any size, get
frame scores with bounded latency and memory.

How it works (a latency-controlled BLSTM): frames are scored in steps of ``hop``
frames. A step runs once the stream holds ``lookahead`` more frames after them.
The forward LSTM carries its state from step to step, so it equals whole-file
scoring exactly; the backward LSTM starts from zero at the last look-ahead frame
and runs back over the look-ahead and the step's frames, so a frame's backward
context is at least ``lookahead`` frames instead of the rest of the file. The
stream's last step (:meth:`StreamingScorer.finish`) sees the true end and matches
whole-file scoring exactly. Latency: at most ``hop + lookahead`` frames (16 ms each)
plus the time of one step; memory: one window of ``hop + lookahead + 1`` frames of
samples and the two LSTM states, whatever the stream's length.

Normalisation: the model divides its input by the waveform's peak. A stream's peak
is not known in advance, so by default each step uses the running peak of every
sample up to the end of its window (look-ahead included; independent of how the
audio was chunked); frames scored before the stream's
loudest moment then see a smaller peak than whole-file scoring would use. Pass
``peak=`` (e.g. 1.0 for full-scale input, or the file's peak) to fix it.

Backends: a Keras model (:func:`keras_step`), an exported SavedModel's ``stream``
signature (:func:`saved_model_step`) or ``model_stream.tflite`` through LiteRT
(:func:`tflite_step`, no TensorFlow) -- the phone's path: call the ``stream``
signature chunk by chunk with the window, the two states, the peak and ``emit``.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

#: Default look-ahead and step, in frames of 16 ms: 512 frames = 8.19 s, 64 = 1.02 s.
#: The shipped model's backward LSTM carries context over about 8-12 s of speech: on
#: real speech, streamed frame scores at 512 frames of look-ahead equal whole-file
#: scores to 2.5e-6 at the 99th percentile (mean 5e-4); at 64 frames the mean
#: difference is 0.16 (its model card's Streaming table).
DEFAULT_LOOKAHEAD = 512
DEFAULT_HOP = 64
#: Frames the streaming TFLite model's LSTM unrolls per loop step; ``hop`` must be a
#: multiple of it so the carried state is the state after the step's last frame.
STREAM_CHUNK = 16

StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray, float, int], Dict[str, np.ndarray]]


class StreamingScorer:
    """``feed(samples) -> new frame scores``; ``finish() -> the rest``.

    ``step(window, h, c, peak, emit)`` runs the model (see
    :meth:`tfaudio.systems.qualitynet.model.QualityNet.stream_step`). Samples are
    float, mono, at the model's rate. :attr:`score` is the mean of the frame scores
    so far (after :meth:`finish`: the utterance score).
    """

    def __init__(self, step: StepFn, units: int, lookahead: int = DEFAULT_LOOKAHEAD,
                 hop: int = DEFAULT_HOP, peak: Optional[float] = None, frame_step: int = 256,
                 frame_length: int = 512, sample_rate: int = 16000, chunk: int = STREAM_CHUNK):
        if hop < 1 or hop % chunk:
            raise ValueError(f"hop must be a positive multiple of {chunk} frames, got {hop}")
        if lookahead < 0:
            raise ValueError(f"lookahead must be >= 0 frames, got {lookahead}")
        if peak is not None and not peak > 0:
            raise ValueError(f"peak must be > 0, got {peak}")
        self.step, self.units = step, int(units)
        self.lookahead, self.hop = int(lookahead), int(hop)
        self.fixed_peak = None if peak is None else float(peak)
        self.frame_step, self.frame_length = int(frame_step), int(frame_length)
        self.sample_rate = int(sample_rate)
        self.reset()

    def reset(self) -> None:
        """Start a new stream (the model stays loaded)."""
        self._buf = np.zeros(self.frame_length // 2, np.float32)  # centred frame 0's left pad
        self._h = np.zeros((1, self.units), np.float32)
        self._c = np.zeros((1, self.units), np.float32)
        self._peak = 0.0
        self.samples = 0
        self.frames = 0
        self._sum = 0.0
        self.finished = False
        self.last_step_frames = 0  # frames scored by finish()

    @property
    def latency_seconds(self) -> float:
        """Longest delay between a sample's arrival and its frame's score (model time
        excluded)."""
        return (self.hop + self.lookahead) * self.frame_step / self.sample_rate

    @property
    def score(self) -> float:
        return self._sum / self.frames if self.frames else float("nan")

    def _window_samples(self, frames: int) -> int:
        return (frames - 1) * self.frame_step + self.frame_length

    def _run(self, window: np.ndarray, emit: int) -> np.ndarray:
        # running peak: every sample up to the window's end, whatever the chunking
        self._peak = max(self._peak, float(np.max(np.abs(window))) if window.size else 0.0)
        peak = self.fixed_peak if self.fixed_peak is not None else self._peak
        out = self.step(window[None, :], self._h, self._c, float(peak), int(emit))
        self._h, self._c = out["h"], out["c"]
        q = np.asarray(out["frame_scores"], np.float32).reshape(-1)[:emit]
        self.frames += q.size
        self._sum += float(q.astype(np.float64).sum())
        return q

    def feed(self, samples) -> np.ndarray:
        """Append samples; returns the frame scores that became final (may be empty)."""
        if self.finished:
            raise RuntimeError("the stream is finished; call reset() to start another")
        x = np.asarray(samples, np.float32).reshape(-1)
        if x.size:
            if not np.all(np.isfinite(x)):
                raise ValueError("samples must be finite (NaN or Inf in the stream)")
            self.samples += x.size
            self._buf = np.concatenate([self._buf, x])
        need = self._window_samples(self.hop + self.lookahead)
        out = []
        while self._buf.size >= need:
            out.append(self._run(self._buf[:need], self.hop))
            self._buf = self._buf[self.hop * self.frame_step:]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def finish(self) -> np.ndarray:
        """The remaining frames (the stream's end pads with zeros, as whole-file
        scoring does). A stream shorter than one frame's hop still gives frame 0."""
        if self.finished:
            return np.zeros(0, np.float32)
        self.finished = True
        total = 1 + self.samples // self.frame_step  # centred frames of the stream
        left = total - self.frames
        if left <= 0:
            return np.zeros(0, np.float32)
        n = self._window_samples(left)
        window = np.zeros(n, np.float32)
        window[: min(n, self._buf.size)] = self._buf[:n]
        self.last_step_frames = left
        return self._run(window, left)


# ----------------------------------------------------------------------------------
# backends
# ----------------------------------------------------------------------------------
def keras_step(model) -> StepFn:
    """A :class:`~tfaudio.systems.qualitynet.model.QualityNet` run in TensorFlow."""
    import tensorflow as tf

    fn = stream_function(model)

    def step(window, h, c, peak, emit):
        out = fn(tf.constant(window, tf.float32), tf.constant(h), tf.constant(c),
                 tf.constant([peak], tf.float32), tf.constant(emit, tf.int32))
        return {k: v.numpy() for k, v in out.items()}

    return step


def stream_function(model):
    """``tf.function`` of ``model.stream_step`` with the streaming signature
    (``waveform [1, None]``, ``h``, ``c`` ``[1, units]``, ``peak [1]``, ``emit []``)."""
    import tensorflow as tf

    u = model.config.lstm_units

    # stream_step has no Python control flow on tensors: nothing for AutoGraph to convert
    @tf.function(autograph=False, input_signature=[
        tf.TensorSpec([1, None], tf.float32, name="waveform"),
        tf.TensorSpec([1, u], tf.float32, name="h"),
        tf.TensorSpec([1, u], tf.float32, name="c"),
        tf.TensorSpec([1], tf.float32, name="peak"),
        tf.TensorSpec([], tf.int32, name="emit"),
    ])
    def stream(waveform, h, c, peak, emit):
        return model.stream_step(waveform, h, c, peak, emit)

    return stream


def saved_model_step(signature) -> StepFn:
    """An exported SavedModel's ``stream`` signature."""
    import tensorflow as tf

    def step(window, h, c, peak, emit):
        out = signature(waveform=tf.constant(window, tf.float32), h=tf.constant(h),
                        c=tf.constant(c), peak=tf.constant([peak], tf.float32),
                        emit=tf.constant(emit, tf.int32))
        return {k: v.numpy() for k, v in out.items()}

    return step


def tflite_step(path, num_threads: Optional[int] = 1) -> StepFn:
    """``model_stream.tflite`` through LiteRT (no TensorFlow)."""
    from tfaudio.export.litert import TFLiteRunner

    runner = TFLiteRunner(path, num_threads=num_threads)

    def step(window, h, c, peak, emit):
        return runner({"waveform": np.ascontiguousarray(window, np.float32),
                       "h": np.ascontiguousarray(h, np.float32),
                       "c": np.ascontiguousarray(c, np.float32),
                       "peak": np.array([peak], np.float32),
                       "emit": np.array(emit, np.int32)})

    return step


def units_of_tflite(path) -> int:
    """The LSTM size a streaming TFLite model's ``h`` input declares."""
    from tfaudio.export.litert import TFLiteRunner

    runner = TFLiteRunner(path, num_threads=1)
    details = {d["index"]: d for d in runner.interpreter.get_input_details()}
    return int(details[runner.inputs["h"]]["shape"][-1])


def stream_file_scores(scorer: StreamingScorer, waveform: np.ndarray,
                       chunk_samples: int = 1600) -> np.ndarray:
    """All frame scores of ``waveform`` fed in chunks of ``chunk_samples`` (tests and
    benchmarks: the streamed equivalent of whole-file scoring)."""
    scorer.reset()
    parts = [scorer.feed(waveform[i:i + chunk_samples])
             for i in range(0, len(waveform), chunk_samples)]
    parts.append(scorer.finish())
    return np.concatenate(parts)

