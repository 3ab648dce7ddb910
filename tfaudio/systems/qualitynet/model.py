"""Quality-Net: non-intrusive BLSTM speech quality with frame-level scores.

Fu, Tsao, Hwang and Wang, Interspeech 2018 (``shared/papers/quality-net.md``).
A raw 16 kHz waveform goes in; the model computes (in the graph, so training,
SavedModel and TFLite all see the same thing):

1. peak normalisation over the valid samples (``x / max|x|``, the authors' input
   scaling; an all-zero clip stays zero instead of dividing by zero),
2. the STFT magnitude with the project's feature layer (512 / 256, Hamming,
   centred frames, linear magnitude -- optionally floored natural log),
3. a BLSTM (100 per direction, forget-gate bias initialised to -3, section 2.2)
   built from :class:`tfaudio.layers.LoopLSTM` so it exports to builtin TFLite ops
   with a dynamic time axis,
4. dense ELU layers (paper: 50, 50) and a linear frame score ``q_t``,
5. the utterance score ``Q`` = mean of ``q_t`` over the *valid* frames.

Valid frames
------------
A padded batch row with ``L`` valid samples has exactly the frames the clip would
produce on its own: frame ``t`` is valid iff ``t < n(L)`` with ``n`` the feature
layer's frame count, i.e. ``n(L) = 1 + L // frame_step`` for centred frames (frame
``t`` is centred on sample ``t * frame_step``, so the valid frames are those with
their centre in ``[0, L]``) and ``1 + (L - frame_length) // frame_step`` (0 if
``L < frame_length``) otherwise.  Samples past ``L`` are zeroed before
normalisation and the STFT, so the valid frames' spectra, the BLSTM states on them
(see :mod:`tfaudio.layers.recurrent`) and hence ``q_t`` and ``Q`` equal the
single-clip results.  Padded frames never enter ``Q`` or the loss.

Loss (:func:`quality_net_loss`)
-------------------------------
Per utterance ``(Q_true - Q)^2 + alpha(Q_true) * mean_t (Q_true - q_t)^2`` over valid
frames, ``alpha = 10 ** (Q_true - q_max)``, averaged over the batch.  Eq. (1) of the
paper writes a *sum* over frames; the authors' code takes the mean (a frame-count
independent weight), which is what is implemented.

On-device (TFLite) calling convention
-------------------------------------
:func:`tfaudio.systems.qualitynet.export.convert_qualitynet_tflite` writes a model with builtin ops only (no Flex)
and one signature, ``serving_default``:

* input ``waveform``: float32 ``[1, n_samples]``, 16 kHz mono, samples in
  [-1, 1] (any scale works: the model peak-normalises), any ``n_samples >= 1``
  (with ``center=False`` at least one frame, 512 samples).  The tensor's shape
  signature is ``[1, -1]``: the app calls ``resize_tensor_input(input, [1, n])``,
  ``allocate_tensors()``, sets the data and ``invoke()`` s -- once per clip length;
  the same length can be invoked again without re-allocating.
* outputs ``score``: float32 ``[1]``, the utterance quality (PESQ-like scale);
  ``frame_scores``: float32 ``[1, 1 + n_samples // 256]``, one score per 16 ms hop.

With the LiteRT Python runtime::

    interp = Interpreter(model_path="qualitynet.tflite", num_threads=1)
    run = interp.get_signature_runner("serving_default")
    out = run(waveform=x[None, :].astype(np.float32))   # resizes as needed
    out["score"][0], out["frame_scores"][0]

Look outputs up by signature name: the raw tensor names are
``StatefulPartitionedCall:0`` / ``:1``.  Without signature support, resize input 0
to ``[1, n]`` and read the ``[1, -1]``-shaped output as ``frame_scores`` and the
``[1]``-shaped one as ``score``.  (:class:`TFLiteQualityScorer` does this with
explicit resize / allocate / invoke calls.)  The cost is linear in the
clip length: about 1.5 ms of one CPU thread per second of audio for the paper-size
model, flat from 1 s to 30 s (``benchmarks/quality_rtf.py``) and 1.9 ms/s for a
5-minute clip.  Use one interpreter
thread: the LSTM loops are sequential and a second thread made it slower.

Serving (TF / SavedModel)
-------------------------
:func:`tfaudio.systems.qualitynet.export.qualitynet_serving_module` returns a ``tf.Module`` with ``score`` and
``frame_scores`` (waveform ``[batch, None]``, all rows valid) and
``padded_scores`` (waveform plus ``lengths``) ``tf.function`` s, for the export
module to save with explicit signatures.
"""
from __future__ import annotations

from typing import Dict, Optional

import keras
import tensorflow as tf

from tfaudio.features import FeatureFrontend, Spectrogram
from tfaudio.systems.qualitynet.config import QualityNetConfig
from tfaudio.layers.recurrent import BiLoopLSTM, sequence_mask

__all__ = [
    "QualityNetConfig",
    "QualityNet",
    "quality_net_loss",
    "valid_frame_count",
]

_QUANTIZATIONS = (None, "float16", "int8")
#: Peak-normalisation floor: 2^-14 (-84 dBFS), the smallest normal float16, so the
# float16 TFLite variant keeps it non-zero and digital silence never divides 0 by 0.
_PEAK_FLOOR = 2.0 ** -14


def valid_frame_count(
    lengths: tf.Tensor, frame_length: int, frame_step: int, center: bool
) -> tf.Tensor:
    """Frames a clip of ``lengths`` samples produces (int32, same shape).

    Same rule as ``Spectrogram.num_frames``: centred frames pad ``frame_length //
    2`` zeros on both sides, so ``1 + L // frame_step``; otherwise
    ``1 + (L - frame_length) // frame_step``, 0 if the clip is shorter than a frame.
    """
    lengths = tf.cast(lengths, tf.int32)
    if center:
        lengths = lengths + 2 * (frame_length // 2)
    count = 1 + (lengths - frame_length) // frame_step
    return tf.where(lengths >= frame_length, count, tf.zeros_like(count))


# ----------------------------------------------------------------------------
# loss
# ----------------------------------------------------------------------------
def quality_net_loss(
    true_score,
    frame_scores,
    frame_mask,
    pred_score,
    q_max: float = 4.5,
    frame_constraint: bool = True,
) -> Dict[str, tf.Tensor]:
    """Quality-Net objective, eq. (1)-(2), as a named dict of batch-mean terms.

    Args:
        true_score: ``[batch]`` true utterance quality ``Q_true`` (e.g. PESQ).
        frame_scores: ``[batch, frames]`` predicted ``q_t``.
        frame_mask: ``[batch, frames]`` bool/float, 1 on valid frames.
        pred_score: ``[batch]`` predicted utterance score ``Q``.
        q_max: maximum of the quality scale (4.5 PESQ, 5 MOS).
        frame_constraint: False sets ``alpha = 0`` (Table 1, "without constraint").

    Returns:
        ``{"utterance_mse": mean (Q_true - Q)^2,
        "frame_constraint": mean alpha * mean_valid_t (Q_true - q_t)^2,
        "loss": their sum}`` with ``alpha = 10 ** (Q_true - q_max)``.  The frame
        term is a mean over each utterance's valid frames (the authors' code;
        eq. (1) writes a sum).  Padded frames never enter; a row without valid
        frames contributes 0 to the frame term.
    """
    true = tf.reshape(tf.cast(true_score, tf.float32), [-1])
    pred = tf.reshape(tf.cast(pred_score, tf.float32), [-1])
    q = tf.cast(frame_scores, tf.float32)
    valid = tf.cast(frame_mask, tf.bool)
    utterance = tf.square(true - pred)
    if frame_constraint:
        sq = tf.where(valid, tf.square(true[:, tf.newaxis] - q), tf.zeros_like(q))
        count = tf.reduce_sum(tf.cast(valid, tf.float32), axis=1)
        frame_err = tf.reduce_sum(sq, axis=1) / tf.maximum(count, 1.0)
        alpha = tf.pow(10.0, true - float(q_max))
        frame_term = alpha * frame_err
    else:
        frame_term = tf.zeros_like(utterance)
    utterance_mse = tf.reduce_mean(utterance)
    frame_mean = tf.reduce_mean(frame_term)
    return {
        "utterance_mse": utterance_mse,
        "frame_constraint": frame_mean,
        "loss": utterance_mse + frame_mean,
    }


# ----------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="tfaudio")
class QualityNet(keras.Model):
    """Waveform -> utterance and frame quality scores (see module docstring).

    ``call(waveform, lengths=None, training=False)``:

    * ``waveform``: float32 ``[batch, samples]``, zero padded on the right.
    * ``lengths``: int32 ``[batch]`` valid samples per row (None: all valid).

    Returns ``{"score": [batch], "frame_scores": [batch, frames],
    "frame_mask": [batch, frames] float32}``; ``frame_scores`` are 0 on padded
    frames.  ``frames = 1 + samples // frame_step`` with centred frames.
    """

    def __init__(self, config: Optional[QualityNetConfig] = None, **kwargs):
        super().__init__(**kwargs)
        if config is None:
            config = QualityNetConfig()
        elif isinstance(config, dict):
            config = QualityNetConfig.from_dict(config)
        self.config = config
        c = config
        self.frontend = FeatureFrontend(
            sample_rate=c.sample_rate, frame_length=c.frame_length,
            frame_step=c.frame_step, window=c.window, center=c.center, power=1.0,
            log="natural" if c.log_magnitude else None, log_floor=c.log_floor,
            name="frontend",
        )
        # The same STFT without the centring pad: streaming windows carry their own
        # neighbours (no weights, so checkpoints are unchanged).
        sp = self.frontend.spectrogram
        self.stream_spectrogram = Spectrogram(
            sp.frame_length, sp.frame_step, sp.fft_length, sp.window, sp.power, center=False,
            name="stream_spectrogram")
        constraint = (
            keras.constraints.MaxNorm(c.recurrent_max_norm)
            if c.recurrent_max_norm is not None
            else None
        )
        self.blstm = BiLoopLSTM(
            c.lstm_units, merge="concat", forget_bias=c.forget_bias,
            dropout=c.lstm_dropout, recurrent_dropout=c.lstm_recurrent_dropout,
            recurrent_constraint=constraint, chunk=c.lstm_chunk, block=c.lstm_block,
            name="blstm",
        )
        self.hidden = [
            keras.layers.Dense(u, activation="elu", name=f"dense_{i}")
            for i, u in enumerate(c.dense_units)
        ]
        self.dropouts = [
            keras.layers.Dropout(c.dropout, name=f"dropout_{i}") if c.dropout > 0 else None
            for i in range(len(c.dense_units))
        ]
        self.frame_head = keras.layers.Dense(1, name="frame_score")

    # -- keras plumbing ---------------------------------------------------------
    def build(self, input_shape=None):
        batch = None if input_shape is None else input_shape[0]
        self.frontend.build((batch, None))
        shape = (batch, None, self.frontend.num_features)
        self.blstm.build(shape)
        shape = self.blstm.compute_output_shape(shape)
        for dense in self.hidden:
            dense.build(shape)
            shape = dense.compute_output_shape(shape)
        self.frame_head.build(shape)
        self.built = True

    def get_config(self):
        base = super().get_config()
        base["config"] = self.config.to_dict()
        return base

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        qconfig = QualityNetConfig.from_dict(config.pop("config", {}))
        config.pop("trainable", None)
        config.pop("dtype", None)
        return cls(qconfig, **config)

    # -- forward ----------------------------------------------------------------
    def num_frames(self, num_samples: int) -> int:
        """Frames for a clip of ``num_samples`` samples."""
        return self.frontend.num_frames(num_samples)

    def call(self, waveform, lengths=None, training=False):
        c = self.config
        x = tf.cast(waveform, tf.float32)
        num_samples = tf.shape(x)[1]
        if lengths is not None:
            lengths = tf.cast(lengths, tf.int32)
            # Anything past a row's length is padding: make sure it is zero.
            x = tf.where(sequence_mask(lengths, num_samples), x, tf.zeros_like(x))
        if c.peak_normalize:
            peak = tf.reduce_max(tf.abs(x), axis=1, keepdims=True)
            x = x / tf.maximum(peak, _PEAK_FLOOR)

        spec = self.frontend(x)  # [B, T, 257]
        num_frames = tf.shape(spec)[1]
        frame_lengths = None
        if lengths is not None:
            frame_lengths = tf.minimum(
                valid_frame_count(lengths, c.frame_length, c.frame_step, c.center),
                num_frames,
            )
        h = self.blstm(spec, lengths=frame_lengths, training=training)
        for dense, drop in zip(self.hidden, self.dropouts):
            h = dense(h)
            if drop is not None:
                h = drop(h, training=training)
        q = tf.squeeze(self.frame_head(h), axis=-1)  # [B, T]

        if frame_lengths is None:
            mask = tf.ones_like(q)
            score = tf.reduce_mean(q, axis=1)
        else:
            valid = sequence_mask(frame_lengths, num_frames)
            mask = tf.cast(valid, q.dtype)
            q = tf.where(valid, q, tf.zeros_like(q))
            score = tf.reduce_sum(q, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        return {"score": score, "frame_scores": q, "frame_mask": mask}

    # -- streaming ----------------------------------------------------------------
    def stream_step(self, window, h, c, peak, emit):
        """One step of streaming scoring (:mod:`tfaudio.systems.qualitynet.streaming`).

        * ``window``: float32 ``[1, (F + 1) * frame_step]``, the samples under frames
          ``s .. s + F - 1`` of the stream (frame ``t`` covers samples
          ``t * frame_step - frame_length / 2`` .. ``+ frame_length``; zeros before
          the stream's start and after its end, as the centred STFT pads);
        * ``h``, ``c``: ``[1, units]``, the forward LSTM's state after frame ``s - 1``;
        * ``peak``: ``[1]``, the peak the stream is normalised by;
        * ``emit``: int32 scalar, frames to score now (``1 .. F``; a multiple of
          ``lstm_chunk`` except on the stream's last step).

        Returns ``{"frame_scores": [1, emit], "h", "c"}`` (the forward state after
        frame ``s + emit - 1``). The forward direction carries its state from step to
        step, so it is exactly the whole-file one; the backward direction starts from
        zero at the window's last frame, so frames with many frames of look-ahead
        after them match whole-file scoring (the frame constraint keeps its memory
        short), and the stream's final step matches exactly.
        """
        cfg = self.config
        if not cfg.center:
            raise ValueError("streaming needs centred frames (model.center=True)")
        x = tf.cast(window, tf.float32)
        if cfg.peak_normalize:
            x = x / tf.maximum(tf.reshape(tf.cast(peak, tf.float32), [-1, 1]), _PEAK_FLOOR)
        spec = self.stream_spectrogram(x)
        for stage in self.frontend.stages[1:]:
            spec = stage(spec)
        emit = tf.cast(tf.reshape(emit, []), tf.int32)
        fwd, h, c = self.blstm.forward_layer(spec[:, :emit], initial_state=(h, c),
                                             return_state=True)
        bwd = self.blstm.backward_layer(spec)[:, :emit]
        out = tf.concat([fwd, bwd], axis=-1)
        for dense in self.hidden:
            out = dense(out)
        q = tf.squeeze(self.frame_head(out), axis=-1)
        return {"frame_scores": q, "h": h, "c": c}

    # -- training helpers -----------------------------------------------------
    def loss_terms(self, true_score, outputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """:func:`quality_net_loss` with this model's ``q_max`` / ``frame_constraint``."""
        return quality_net_loss(
            true_score, outputs["frame_scores"], outputs["frame_mask"], outputs["score"],
            q_max=self.config.q_max, frame_constraint=self.config.frame_constraint,
        )

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        """RMSprop (Keras defaults) at the configured learning rate, as in the paper."""
        return keras.optimizers.RMSprop(learning_rate=self.config.learning_rate)
