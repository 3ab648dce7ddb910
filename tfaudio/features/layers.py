"""Waveform -> features front-end as serializable Keras layers.

The layers turn a float32 waveform batch ``[batch, samples]`` into time-major
features ``[batch, frames, features]`` inside the TensorFlow graph, so the same
computation runs in training (``tf.data`` or model), in a SavedModel served by TF
Serving, and in a TFLite model on device -- no separate numpy pre-processing that
can drift from what the model was trained with.

Design choices
--------------
* **Parity with librosa.**  The research systems were specified with librosa
  features, so every layer reproduces a librosa call to float32 precision:

  - the analysis window is ``scipy.signal.get_window(window, frame_length,
    fftbins=True)`` -- the *periodic* window librosa uses -- computed in float64
    and stored as a float32 constant, instead of ``tf.signal.hamming_window`` /
    ``hann_window`` (same formula, but evaluated in float32: ~1.6e-7 off, and only
    a handful of window types);
  - the mel matrix is *taken from* ``librosa.filters.mel`` at construction time
    instead of ``tf.signal.linear_to_mel_weight_matrix``.  TF's matrix uses the HTK
    mel formula, builds the triangles on the mel axis, skips the DC bin and has no
    Slaney area normalisation, so its output is not librosa's; copying librosa's
    matrix makes the filterbank an exact matmul with the reference.  The matrix is a graph constant (not a
    variable): it is fully determined by the config, so it is not trainable, not in
    checkpoints and rebuilt from ``get_config()`` on load.
  - ``center=True`` zero-pads ``frame_length // 2`` samples on both sides, the
    ``pad_mode="constant"`` default of librosa >= 0.10.  For even lengths this
    gives exactly librosa's frames and frame count ``1 + samples // frame_step``
    even when ``fft_length > frame_length`` (librosa pads ``n_fft // 2`` but then
    centres the shorter window inside the ``n_fft`` frame: same samples).
  - With ``center=False`` frames start at 0 and there is no end padding:
    ``frames = 1 + (samples - frame_length) // frame_step`` (4 s at 16 kHz with
    512/256 -> 249 frames).  If ``fft_length > frame_length`` the frame is
    zero-padded *at the end* (``tf.signal.stft`` convention); librosa instead
    uses ``n_fft``-long frames with the window centred in them, so in that one
    case (center=False, fft_length > frame_length) frame positions and count differ
    from librosa.

* **TFLite builtins only.**  ``tf.signal.frame`` + window multiply +
  ``tf.signal.rfft`` lower to GATHER/RESHAPE/MUL/RFFT2D, magnitude to COMPLEX_ABS
  (power 1) or REAL/IMAG/MUL/ADD (power 2), the filterbank to FULLY_CONNECTED and
  the normalisations to reductions -- all TFLite builtin ops, so no Flex delegate
  (SELECT_TF_OPS) is needed and the ``ai-edge-litert`` runtime can run the model.
  This also holds with a dynamic samples axis (``[1, None]`` signature, resized in
  the interpreter).  Caveat: LiteRT's RFFT2D kernel only accepts a power-of-two
  ``fft_length`` -- a model with e.g. ``frame_length=400`` and no ``fft_length``
  converts fine but fails in ``allocate_tensors()``; use ``fft_length=512``.

* **float32 always.**  The layers default to the ``"float32"`` dtype policy (a
  waveform in float16 loses most of its dynamic range); pass ``dtype=`` to
  override.  Internally everything is computed in float32.

* Every layer's ``get_config()`` holds plain Python values only, so
  ``Layer.from_config(layer.get_config())`` round-trips and models using them save
  and load as ``.keras`` files (the classes are registered under package
  ``"tfaudio"``).
"""
from __future__ import annotations

import inspect
import math
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "Spectrogram",
    "MelFilterbank",
    "LogCompression",
    "MinMaxNormalization",
    "MeanVarianceNormalization",
    "FeatureFrontend",
    "frontend_from_config",
    "make_window",
    "mel_matrix",
]

_LOG_SCALES = ("natural", "db")
_NORMALIZATIONS = ("minmax", "meanvar")


# ----------------------------------------------------------------------------
# helpers (numpy, run once at construction time)
# ----------------------------------------------------------------------------
def make_window(window: str, frame_length: int) -> np.ndarray:
    """Periodic analysis window exactly as librosa builds it.

    ``scipy.signal.get_window(window, frame_length, fftbins=True)`` as float32.
    """
    import scipy.signal

    if not isinstance(window, str):
        raise TypeError(f"window must be a window name such as 'hamming', got {window!r}")
    try:
        w = scipy.signal.get_window(window, int(frame_length), fftbins=True)
    except ValueError as exc:
        raise ValueError(f"unknown window {window!r}: {exc}") from exc
    return np.asarray(w, dtype=np.float32)


def mel_matrix(
    sample_rate: int,
    n_fft: int,
    num_mel_bins: int,
    fmin: float = 0.0,
    fmax: Optional[float] = None,
    htk: bool = False,
    norm: Optional[str] = "slaney",
) -> np.ndarray:
    """``librosa.filters.mel(...)`` transposed to ``[n_fft // 2 + 1, num_mel_bins]``.

    librosa is imported lazily so that importing ``tfaudio.features`` stays cheap.
    """
    import librosa

    m = librosa.filters.mel(
        sr=sample_rate,
        n_fft=n_fft,
        n_mels=num_mel_bins,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=norm,
        dtype=np.float32,
    )
    return np.ascontiguousarray(m.T, dtype=np.float32)


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _normalize_axes(axes) -> tuple:
    if isinstance(axes, int):
        axes = (axes,)
    axes = tuple(int(a) for a in axes)
    if not axes:
        raise ValueError("axes must name at least one axis")
    if 0 in axes:
        raise ValueError("axes must not include the batch axis 0 (normalisation is per example)")
    return axes


def _set_float32_default(kwargs: dict) -> dict:
    # Front-end maths belongs in float32 even under a mixed-precision global policy.
    kwargs.setdefault("dtype", "float32")
    return kwargs


def _flatten_matmul(x: tf.Tensor, matrix: np.ndarray) -> tf.Tensor:
    """``x[..., F] @ matrix[F, M]`` as one 2-D matmul (TFLite FULLY_CONNECTED)."""
    out_dim = matrix.shape[1]
    lead = tf.shape(x)[:-1]
    flat = tf.reshape(x, [-1, matrix.shape[0]])
    y = tf.matmul(flat, tf.constant(matrix))
    return tf.reshape(y, tf.concat([lead, [out_dim]], axis=0))


# ----------------------------------------------------------------------------
# layers
# ----------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="tfaudio")
class Spectrogram(keras.layers.Layer):
    """STFT magnitude (``power=1``) or power (``power=2``) spectrogram.

    Input ``[batch, samples]`` float waveform (the samples axis may be dynamic),
    output ``[batch, frames, fft_length // 2 + 1]`` (time-major).  Matches
    ``np.abs(librosa.stft(y, n_fft=fft_length, hop_length=frame_step,
    win_length=frame_length, window=window, center=center)) ** power`` transposed
    (see the module docstring for the one case where framing differs).

    Args:
        frame_length: window / frame length in samples.
        frame_step: hop in samples.
        fft_length: FFT size (>= frame_length); defaults to ``frame_length``.
            Use a power of two if the model is to run in TFLite/LiteRT.
        window: scipy window name ("hamming", "hann", ...), periodic form.
        power: exponent applied to the magnitude (1 magnitude, 2 power).
        center: zero-pad ``frame_length // 2`` samples on both sides first.
    """

    def __init__(
        self,
        frame_length: int = 512,
        frame_step: int = 256,
        fft_length: Optional[int] = None,
        window: str = "hamming",
        power: float = 1.0,
        center: bool = False,
        **kwargs,
    ):
        super().__init__(**_set_float32_default(kwargs))
        self.frame_length = _check_positive_int("frame_length", frame_length)
        self.frame_step = _check_positive_int("frame_step", frame_step)
        self.fft_length = (
            self.frame_length
            if fft_length is None
            else _check_positive_int("fft_length", fft_length)
        )
        if self.fft_length < self.frame_length:
            raise ValueError(
                f"fft_length ({self.fft_length}) must be >= frame_length ({self.frame_length})"
            )
        self.power = float(power)
        if not self.power > 0:
            raise ValueError(f"power must be > 0, got {power!r}")
        self.center = bool(center)
        self.window = window
        self._window = make_window(window, self.frame_length)  # numpy constant

    @property
    def num_bins(self) -> int:
        """Number of frequency bins, ``fft_length // 2 + 1``."""
        return self.fft_length // 2 + 1

    def num_frames(self, num_samples: Optional[int]) -> Optional[int]:
        """Frames produced for a clip of ``num_samples`` samples (None -> None)."""
        if num_samples is None:
            return None
        n = int(num_samples)
        if self.center:
            n += 2 * (self.frame_length // 2)
        if n < self.frame_length:
            return 0
        return 1 + (n - self.frame_length) // self.frame_step

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        return input_shape[:-1] + (self.num_frames(input_shape[-1]), self.num_bins)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        if self.center:
            pad = self.frame_length // 2
            rank = x.shape.rank or 2  # [batch, samples] unless known otherwise
            paddings = [[0, 0]] * (rank - 1) + [[pad, pad]]
            x = tf.pad(x, paddings)  # zeros, like librosa's pad_mode="constant"
        frames = tf.signal.frame(x, self.frame_length, self.frame_step, pad_end=False)
        frames = frames * tf.constant(self._window)
        spec = tf.signal.rfft(frames, fft_length=[self.fft_length])
        if self.power == 2.0:
            # |X|^2 without the sqrt of COMPLEX_ABS: cheaper and more accurate.
            re, im = tf.math.real(spec), tf.math.imag(spec)
            out = re * re + im * im
        else:
            out = tf.abs(spec)
            if self.power != 1.0:
                out = tf.pow(out, self.power)
        return tf.cast(out, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            fft_length=self.fft_length,
            window=self.window,
            power=self.power,
            center=self.center,
        )
        return config


@keras.saving.register_keras_serializable(package="tfaudio")
class MelFilterbank(keras.layers.Layer):
    """Linear-frequency spectrogram -> mel bands, a matmul with librosa's matrix.

    Input ``[..., n_fft // 2 + 1]`` -> output ``[..., num_mel_bins]``; equals
    ``librosa.feature.melspectrogram(S=S.T, sr=sample_rate, n_fft=n_fft,
    n_mels=num_mel_bins, fmin=fmin, fmax=fmax, htk=htk, norm=norm).T``.
    The matrix is a constant rebuilt from the config (no weights).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        num_mel_bins: int = 40,
        fmin: float = 0.0,
        fmax: Optional[float] = None,
        htk: bool = False,
        norm: Optional[str] = "slaney",
        **kwargs,
    ):
        super().__init__(**_set_float32_default(kwargs))
        self.sample_rate = _check_positive_int("sample_rate", sample_rate)
        self.n_fft = _check_positive_int("n_fft", n_fft)
        self.num_mel_bins = _check_positive_int("num_mel_bins", num_mel_bins)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        if self.fmax is not None and not self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need fmin < fmax <= sample_rate/2, got fmin={fmin}, fmax={fmax}, "
                f"sample_rate={sample_rate}"
            )
        self.htk = bool(htk)
        self.norm = norm
        self._matrix = mel_matrix(
            self.sample_rate, self.n_fft, self.num_mel_bins, self.fmin, self.fmax,
            self.htk, self.norm,
        )

    @property
    def matrix(self) -> np.ndarray:
        """The ``[n_fft // 2 + 1, num_mel_bins]`` filterbank matrix (a copy)."""
        return self._matrix.copy()

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        bins = self.n_fft // 2 + 1
        if input_shape[-1] is not None and input_shape[-1] != bins:
            raise ValueError(
                f"MelFilterbank(n_fft={self.n_fft}) expects {bins} bins in the last axis, "
                f"got input shape {input_shape}"
            )
        return input_shape[:-1] + (self.num_mel_bins,)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        return tf.cast(_flatten_matmul(x, self._matrix), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            num_mel_bins=self.num_mel_bins,
            fmin=self.fmin,
            fmax=self.fmax,
            htk=self.htk,
            norm=self.norm,
        )
        return config


@keras.saving.register_keras_serializable(package="tfaudio")
class LogCompression(keras.layers.Layer):
    """Floored log: ``log(max(x, floor))`` or, with ``scale="db"``,
    ``10 * log10(max(x, floor))`` (= ``librosa.power_to_db(S, ref=1.0,
    amin=floor, top_db=None)``)."""

    def __init__(self, floor: float = 1e-10, scale: str = "natural", **kwargs):
        super().__init__(**_set_float32_default(kwargs))
        self.floor = float(floor)
        if not self.floor > 0:
            raise ValueError(f"floor must be > 0, got {floor!r}")
        if scale not in _LOG_SCALES:
            raise ValueError(f"scale must be one of {_LOG_SCALES}, got {scale!r}")
        self.scale = scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        x = tf.math.log(tf.maximum(tf.cast(inputs, tf.float32), self.floor))
        if self.scale == "db":
            x = x * (10.0 / math.log(10.0))
        return tf.cast(x, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(floor=self.floor, scale=self.scale)
        return config


@keras.saving.register_keras_serializable(package="tfaudio")
class MinMaxNormalization(keras.layers.Layer):
    """Per-example min-max scaling to [0, 1] over ``axes``.

    ``(x - min) / max(max - min, epsilon)``; a constant input (e.g. silence
    after log flooring) maps to 0, never NaN.
    """

    def __init__(self, axes: Sequence[int] = (1, 2), epsilon: float = 1e-8, **kwargs):
        super().__init__(**_set_float32_default(kwargs))
        self.axes = _normalize_axes(axes)
        self.epsilon = float(epsilon)
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        lo = tf.reduce_min(x, axis=self.axes, keepdims=True)
        hi = tf.reduce_max(x, axis=self.axes, keepdims=True)
        y = (x - lo) / tf.maximum(hi - lo, self.epsilon)
        return tf.cast(y, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(axes=list(self.axes), epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="tfaudio")
class MeanVarianceNormalization(keras.layers.Layer):
    """Per-example standardisation over ``axes``: ``(x - mean) / sqrt(var + epsilon)``.

    With the default ``axes=(1,)`` on ``[batch, frames, bins]`` every bin is
    normalised over time (per-utterance CMVN).  Population variance (ddof=0).
    """

    def __init__(self, axes: Sequence[int] = (1,), epsilon: float = 1e-5, **kwargs):
        super().__init__(**_set_float32_default(kwargs))
        self.axes = _normalize_axes(axes)
        self.epsilon = float(epsilon)
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        mean, var = tf.nn.moments(x, axes=list(self.axes), keepdims=True)
        y = (x - mean) * tf.math.rsqrt(var + self.epsilon)
        return tf.cast(y, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(axes=list(self.axes), epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="tfaudio")
class FeatureFrontend(keras.layers.Layer):
    """Waveform ``[batch, samples]`` -> features ``[batch, frames, num_features]``.

    Chains :class:`Spectrogram` -> :class:`MelFilterbank` (if ``num_mel_bins``)
    -> :class:`LogCompression` (if ``log`` is "natural" or "db") ->
    :class:`MinMaxNormalization` (``normalization="minmax"``, over frames and
    bins) or :class:`MeanVarianceNormalization` (``"meanvar"``, per bin over
    frames).  Examples::

        FeatureFrontend(num_mel_bins=40, power=2.0, log="natural",
                        normalization="minmax")          # DFE: [B, 249, 40] for 4 s
        FeatureFrontend(power=1.0, center=True)          # Quality-Net: 257 bins
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        frame_length: int = 512,
        frame_step: int = 256,
        fft_length: Optional[int] = None,
        window: str = "hamming",
        center: bool = False,
        power: float = 1.0,
        num_mel_bins: Optional[int] = None,
        fmin: float = 0.0,
        fmax: Optional[float] = None,
        mel_htk: bool = False,
        mel_norm: Optional[str] = "slaney",
        log: Optional[str] = None,
        log_floor: float = 1e-10,
        normalization: Optional[str] = None,
        **kwargs,
    ):
        super().__init__(**_set_float32_default(kwargs))
        if log not in (None,) + _LOG_SCALES:
            raise ValueError(f"log must be None or one of {_LOG_SCALES}, got {log!r}")
        if normalization not in (None,) + _NORMALIZATIONS:
            raise ValueError(
                f"normalization must be None or one of {_NORMALIZATIONS}, got {normalization!r}"
            )
        self.sample_rate = _check_positive_int("sample_rate", sample_rate)
        self.log = log
        self.log_floor = float(log_floor)
        self.normalization = normalization
        self.num_mel_bins = None if num_mel_bins is None else int(num_mel_bins)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.mel_htk = bool(mel_htk)
        self.mel_norm = mel_norm

        dtype = kwargs.get("dtype")
        self.spectrogram = Spectrogram(
            frame_length=frame_length, frame_step=frame_step, fft_length=fft_length,
            window=window, power=power, center=center, dtype=dtype, name="spectrogram",
        )
        self.mel = None
        if self.num_mel_bins:
            self.mel = MelFilterbank(
                sample_rate=self.sample_rate, n_fft=self.spectrogram.fft_length,
                num_mel_bins=self.num_mel_bins, fmin=self.fmin, fmax=self.fmax,
                htk=self.mel_htk, norm=self.mel_norm, dtype=dtype, name="mel",
            )
        self.log_compression = None
        if log is not None:
            self.log_compression = LogCompression(
                floor=self.log_floor, scale=log, dtype=dtype, name="log"
            )
        self.norm = None
        if normalization == "minmax":
            self.norm = MinMaxNormalization(axes=(1, 2), dtype=dtype, name="minmax")
        elif normalization == "meanvar":
            self.norm = MeanVarianceNormalization(axes=(1,), dtype=dtype, name="meanvar")

    # -- shape helpers --------------------------------------------------------
    @property
    def stages(self) -> list:
        """The sub-layers in application order."""
        return [s for s in (self.spectrogram, self.mel, self.log_compression, self.norm) if s]

    @property
    def num_features(self) -> int:
        """Feature dimension: ``num_mel_bins`` or ``fft_length // 2 + 1``."""
        return self.num_mel_bins if self.mel is not None else self.spectrogram.num_bins

    def num_frames(self, num_samples: Optional[int]) -> Optional[int]:
        """Frames produced for a clip of ``num_samples`` samples."""
        return self.spectrogram.num_frames(num_samples)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for stage in self.stages:
            shape = stage.compute_output_shape(shape)
        return shape

    def build(self, input_shape):
        shape = tuple(input_shape)
        for stage in self.stages:
            if not stage.built:
                stage.build(shape)
            shape = stage.compute_output_shape(shape)
        super().build(input_shape)

    def call(self, inputs):
        x = inputs
        for stage in self.stages:
            x = stage(x)
        return x

    def get_config(self):
        config = super().get_config()
        s = self.spectrogram
        config.update(
            sample_rate=self.sample_rate,
            frame_length=s.frame_length,
            frame_step=s.frame_step,
            fft_length=s.fft_length,
            window=s.window,
            center=s.center,
            power=s.power,
            num_mel_bins=self.num_mel_bins,
            fmin=self.fmin,
            fmax=self.fmax,
            mel_htk=self.mel_htk,
            mel_norm=self.mel_norm,
            log=self.log,
            log_floor=self.log_floor,
            normalization=self.normalization,
        )
        return config


def frontend_from_config(config: dict) -> FeatureFrontend:
    """Build a :class:`FeatureFrontend` from a plain dict (e.g. a pipeline JSON).

    Unknown keys raise ``ValueError`` naming them, so typos in configs are not
    silently ignored.  Keras' own keys (``name``, ``dtype``, ``trainable``) are
    accepted, so ``frontend_from_config(frontend.get_config())`` works too.
    """
    config = dict(config)
    allowed = set(inspect.signature(FeatureFrontend.__init__).parameters) - {"self", "kwargs"}
    allowed |= {"name", "dtype", "trainable"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(
            f"unknown FeatureFrontend option(s) {unknown}; valid: {sorted(allowed)}"
        )
    return FeatureFrontend(**config)
