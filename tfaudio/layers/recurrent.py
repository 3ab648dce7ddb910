"""TFLite-safe LSTM / BLSTM layers with a dynamic time axis.

Why not ``keras.layers.LSTM``?
------------------------------
Over a *dynamic* time axis Keras 3's LSTM lowers to TensorFlow ops that the TFLite
converter can only keep as Flex ops (``SELECT_TF_OPS``), which the ``ai-edge-litert``
pip runtime does not run; over a *static* axis the converted model cannot be resized
after conversion.  :class:`LoopLSTM` writes the recurrence as an explicit
``tf.while_loop`` instead.  It converts to TFLite builtin ops only (WHILE,
FULLY_CONNECTED, LOGISTIC, TANH, DYNAMIC_UPDATE_SLICE, ...) with the time axis left
dynamic, so one ``.tflite`` file scores clips of any length.

Why the first while-loop version cost more per second of audio on longer clips
-----------------------------------------------------------------------------
Measured on this machine (LiteRT 2.3, one thread, 100 units, 257 inputs, one
direction; ms of compute per second of audio at 1 s -> 30 s) and explained by
TFLite's WHILE kernel:

1. TFLite runs a WHILE loop in one of two modes.  If every tensor of the body has
   a static shape once the loop inputs are known ("static" mode), a loop-carried
   tensor that the body passes through unchanged costs nothing per iteration (the
   body-output -> body-input copy is a tensor onto itself and is skipped): a loop
   carrying the whole pre-projected sequence but writing no output ran at a flat
   0.41 ms/s.  If any body tensor is dynamic ("dynamic" mode), *every*
   loop-carried tensor -- including loop invariants such as the input sequence --
   is deep-copied two to three times per iteration and the body is re-allocated.
2. ``TensorArray.write`` becomes ``TensorListSetItem``, which the converter lowers
   by default to SLICE + SLICE + CONCATENATION of the whole output buffer: O(T)
   work per step *and* a dynamic-shaped body, i.e. the slow mode.  Hence O(T^2)
   overall (the first version, input projection inside the loop: 1.07 -> 10.3).
3. Even with an in-place O(1) write the output buffer is loop-carried *and*
   updated, so it is copied once per iteration: still O(T) per step.

The fix, one step at a time: input projection ``x @ W + b`` for all frames as one
matmul outside the loop, frames gathered from it (0.75 -> 4.1); the write lowered
to DYNAMIC_UPDATE_SLICE (converter flag ``_experimental_enable_dynamic_update_slice``,
set by :func:`configure_tflite_converter`), which keeps the body static
(0.53 -> 2.6); ``chunk`` (default 16) steps unrolled per iteration so the copy of
(3) is paid once per 16 frames (0.49 -> 0.60; within a chunk the frames come from
one UNPACK and leave through one PACK).  That still left an O(T^2 / chunk) term
that shows on long clips (BLSTM: 0.94 ms/s at 1 s, 2.1 at 120 s, 5.4 at 300 s), so
the loop is nested: an outer loop over blocks of ``block`` (16) chunks carries the
full-length buffer, an inner loop over the chunks of one block carries a
256-frame buffer.  BLSTM: 0.95 / 0.99 / 0.97 / 1.02 / 1.35 ms/s at 1 / 5 / 30 /
120 / 300 s.  More LiteRT threads do not help a sequential loop (2 threads were
slower than 1).

In TensorFlow itself (training, SavedModel) the same graph writes a
``TensorArray``, which is O(1) per write, and the unrolled chunk also cuts the
per-iteration overhead of ``tf.while_loop``.  Note that in eager mode (a model
called outside ``tf.function``) the loop runs op by op: correct but slow.

Padding
-------
Padded batches are right-padded.  Pass ``lengths`` (int32 ``[batch]``, valid frames
per row) or a boolean ``mask`` ``[batch, time]`` (``True`` = valid, a prefix of each
row; it is reduced to lengths).  The forward direction never sees a padded frame
before a valid one; the backward direction reverses each row *by its own length*
(``tf.reverse_sequence``, a TFLite builtin), runs forward and reverses back, so it
starts at that row's last valid frame.  Outputs at padded frames are zero.  Without
lengths (batch of equal-length clips, or batch 1 on device) a plain reverse is used.
"""
from __future__ import annotations

from typing import Optional, Tuple

import keras
import tensorflow as tf

__all__ = [
    "LoopLSTM",
    "BiLoopLSTM",
    "lstm_scan",
    "lengths_from_mask",
    "sequence_mask",
    "configure_tflite_converter",
    "DEFAULT_CHUNK",
    "DEFAULT_BLOCK",
]

#: Recurrent steps unrolled per ``tf.while_loop`` iteration (see module docstring).
DEFAULT_CHUNK = 16
#: Chunks per outer loop iteration (two nested loops; see module docstring).
DEFAULT_BLOCK = 16

_MERGE_MODES = ("concat", "sum", "mul", "ave")


def configure_tflite_converter(converter) -> None:
    """Set the converter options that keep :class:`LoopLSTM` linear-time in TFLite.

    Turns the loop's ``TensorArray`` writes into in-place DYNAMIC_UPDATE_SLICE
    (builtin) instead of SLICE/CONCATENATION of the whole buffer.  Uses a private
    converter attribute (present in TF 2.21); without it the model still converts
    and runs, just with a cost per audio second that grows with clip length.
    """
    if hasattr(converter, "_experimental_enable_dynamic_update_slice"):
        converter._experimental_enable_dynamic_update_slice = True


def sequence_mask(lengths: tf.Tensor, maxlen: tf.Tensor) -> tf.Tensor:
    """Boolean ``[batch, maxlen]``: ``mask[b, t] = t < lengths[b]``."""
    steps = tf.range(maxlen, dtype=tf.int32)
    return steps[tf.newaxis, :] < tf.cast(lengths, tf.int32)[:, tf.newaxis]


def lengths_from_mask(mask: tf.Tensor) -> tf.Tensor:
    """Valid steps per row of a right-padded boolean mask ``[batch, time]``."""
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)


def _reverse_time(x: tf.Tensor, lengths: Optional[tf.Tensor]) -> tf.Tensor:
    """Reverse ``[batch, time, ...]`` along time; per row within ``lengths`` if given."""
    if lengths is None:
        return tf.reverse(x, axis=[1])
    return tf.reverse_sequence(x, tf.cast(lengths, tf.int32), seq_axis=1, batch_axis=0)


def lstm_scan(
    xproj: tf.Tensor,
    recurrent_kernel: tf.Tensor,
    chunk: int = DEFAULT_CHUNK,
    block: int = DEFAULT_BLOCK,
    recurrent_dropout_mask: Optional[tf.Tensor] = None,
    initial_state: Optional[Tuple[tf.Tensor, tf.Tensor]] = None,
    return_state: bool = False,
):
    """Run the LSTM recurrence over a pre-projected sequence.

    Args:
        xproj: ``[batch, time, 4 * units]`` = ``inputs @ kernel + bias`` in Keras
            gate order (input, forget, cell, output), in processing order.
        recurrent_kernel: ``[units, 4 * units]``.
        chunk: steps unrolled per innermost loop iteration (static).
        block: chunks per outer loop iteration; ``block > 1`` nests two loops so
            the full-length output buffer is copied once per ``block * chunk``
            steps instead of once per ``chunk`` steps (``block <= 1``: one loop).
        recurrent_dropout_mask: optional ``[batch, units]`` multiplier applied to
            the previous hidden state before the recurrent matmul.
        initial_state: optional ``(h, c)``, each ``[batch, units]`` (default zeros).
        return_state: also return the final ``(h, c)``.

    Returns:
        Hidden states ``[batch, time, units]``, and with ``return_state`` the final
        ``h``, ``c``.  Steps after ``time`` introduced by rounding up to a whole
        chunk are computed on zero input and dropped; the final state is the state
        after them, so it is the state after the last frame only when ``time`` is a
        multiple of ``chunk`` (streaming callers feed whole chunks).
    """
    chunk = int(chunk)
    block = max(1, int(block))
    units = recurrent_kernel.shape[0]
    if units is None:
        raise ValueError("recurrent_kernel needs a static number of units")
    dtype = xproj.dtype
    static_batch = xproj.shape[0]
    batch = static_batch if static_batch is not None else tf.shape(xproj)[0]
    steps = tf.shape(xproj)[1]
    num_chunks = (steps + chunk - 1) // chunk
    x = tf.pad(xproj, [[0, 0], [0, num_chunks * chunk - steps], [0, 0]])
    # [batch, chunks, chunk, 4u] -> [chunks, chunk, batch, 4u]: one gather per loop
    # iteration reads a whole chunk of this loop-invariant tensor.
    x = tf.reshape(x, [batch, num_chunks, chunk, 4 * units])
    x = tf.transpose(x, [1, 2, 0, 3])

    def run_chunk(index, h, c):
        """``chunk`` unrolled steps on chunk ``index``; returns h, c, [chunk, B, u]."""
        x_chunk = tf.unstack(tf.gather(x, index), num=chunk, axis=0)  # chunk x [B, 4u]
        hs = []
        for k in range(chunk):
            h_in = h if recurrent_dropout_mask is None else h * recurrent_dropout_mask
            z = x_chunk[k] + tf.matmul(h_in, recurrent_kernel)
            z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
            h = tf.sigmoid(z_o) * tf.tanh(c)
            hs.append(h)
        return h, c, tf.stack(hs, axis=0)

    def chunk_loop(first, count, h, c):
        """Chunks ``first .. first + count - 1`` -> h, c, TensorArray of ``size``."""
        # A static element shape (batch is static when exporting with batch 1)
        # keeps the TFLite loop body static-shaped, i.e. on WHILE's fast path.
        size = count if block == 1 else block
        outputs = tf.TensorArray(
            dtype, size=size, element_shape=tf.TensorShape([chunk, static_batch, units])
        )

        def body(i, h, c, outputs):
            h, c, hs = run_chunk(first + i, h, c)
            return i + 1, h, c, outputs.write(i, hs)

        _, h, c, outputs = tf.while_loop(
            lambda i, *_: i < count, body, (tf.constant(0, tf.int32), h, c, outputs)
        )
        return h, c, outputs

    if initial_state is None:
        zeros = tf.zeros(tf.stack([batch, units]), dtype=dtype)
        h0 = c0 = zeros
    else:
        h0, c0 = (tf.cast(v, dtype) for v in initial_state)
    if block == 1:
        h_end, c_end, outputs = chunk_loop(tf.constant(0, tf.int32), num_chunks, h0, c0)
        y = outputs.stack()  # [chunks, chunk, B, u]
    else:
        num_blocks = (num_chunks + block - 1) // block
        blocks = tf.TensorArray(
            dtype, size=num_blocks,
            element_shape=tf.TensorShape([block, chunk, static_batch, units]),
        )

        def outer(b, h, c, blocks):
            first = b * block
            count = tf.minimum(block, num_chunks - first)
            h, c, inner = chunk_loop(first, count, h, c)
            # Unwritten tail slots of the last block stack as zeros.
            return b + 1, h, c, blocks.write(b, inner.stack())

        _, h_end, c_end, blocks = tf.while_loop(
            lambda b, *_: b < num_blocks, outer, (tf.constant(0, tf.int32), h0, c0, blocks)
        )
        y = blocks.stack()  # [blocks, block, chunk, B, u]
    y = tf.reshape(y, [-1, batch, units])
    y = tf.transpose(y, [1, 0, 2])
    if return_state:
        return y[:, :steps], h_end, c_end
    return y[:, :steps]


def _bias_initializer(base, units: int, forget_bias: Optional[float]):
    """Bias initializer: ``base`` for all gates, then the forget slice overwritten.

    ``forget_bias=None`` reproduces Keras' ``unit_forget_bias=True`` (forget slice
    = 1); a float sets the forget slice to that value (Quality-Net: -3, i.e. the
    gate-wise bias [0, -3, 0, 0] with a zeros base).
    """
    base = keras.initializers.get(base)
    value = 1.0 if forget_bias is None else float(forget_bias)

    def init(shape, dtype=None):
        b = base((units,), dtype=dtype)
        return keras.ops.concatenate(
            [b, keras.ops.full((units,), value, dtype=dtype), base((units * 2,), dtype=dtype)]
        )

    return init


@keras.saving.register_keras_serializable(package="tfaudio")
class LoopLSTM(keras.layers.Layer):
    """LSTM over a dynamic time axis that converts to builtin TFLite ops.

    Weights are laid out exactly like ``keras.layers.LSTM`` (``kernel [in, 4u]``,
    ``recurrent_kernel [u, 4u]``, ``bias [4u]``, gate order input, forget, cell,
    output; sigmoid gates, tanh cell and output activations), so
    ``loop.set_weights(keras_lstm.get_weights())`` gives the same outputs.

    Differences from ``keras.layers.LSTM``:

    * ``go_backwards=True`` returns outputs **aligned with the input frames**
      (``output[:, t]`` has seen frames ``t .. last``), not in processing order:
      it equals ``reverse(keras_lstm(go_backwards=True)(x))`` and is what the
      backward half of ``keras.layers.Bidirectional`` produces.
    * Padding is given as ``lengths`` (or a right-padded mask); padded steps do not
      touch valid outputs and their outputs are zero.
    * ``forget_bias`` (default -3.0, Quality-Net section 2.2) replaces
      ``unit_forget_bias``; ``forget_bias=None`` keeps Keras' unit forget bias of 1.

    Args:
        units: hidden size.
        go_backwards: run from each sequence's last valid frame to its first.
        return_sequences: ``[batch, time, units]`` if True, else the final state
            ``[batch, units]`` (after the last valid frame; for ``go_backwards``
            after frame 0).
        forget_bias: initial value of the forget-gate bias slice, or None.
        dropout / recurrent_dropout: training-time dropout on the inputs / on the
            previous hidden state (one mask per sequence, as Keras does).
        chunk: recurrent steps unrolled per loop iteration (performance only).
        block: chunks per outer loop iteration, 1 for a single loop (performance
            only; see :func:`lstm_scan`).

    Call args:
        inputs: ``[batch, time, features]``.
        lengths: optional int ``[batch]`` valid frames per row.
        mask: optional bool ``[batch, time]`` (ignored if ``lengths`` is given).
        training: enables dropout.
        initial_state: optional ``(h, c)`` to start from (streaming).
        return_state: return ``(outputs, h, c)``; forward direction, no lengths, and
            ``time`` a multiple of ``chunk`` for ``h, c`` to be the state after the
            last frame (see :func:`lstm_scan`).
    """

    def __init__(
        self,
        units: int,
        go_backwards: bool = False,
        return_sequences: bool = True,
        forget_bias: Optional[float] = -3.0,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        chunk: int = DEFAULT_CHUNK,
        block: int = DEFAULT_BLOCK,
        seed: Optional[int] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        if self.units <= 0:
            raise ValueError(f"units must be positive, got {units!r}")
        self.go_backwards = bool(go_backwards)
        self.return_sequences = bool(return_sequences)
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.chunk = int(chunk)
        if self.chunk <= 0:
            raise ValueError(f"chunk must be positive, got {chunk!r}")
        self.block = int(block)
        if self.block <= 0:
            raise ValueError(f"block must be positive, got {block!r}")
        self.seed = seed
        self._seed_generator = (
            keras.random.SeedGenerator(seed)
            if (self.dropout or self.recurrent_dropout)
            else None
        )
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"LoopLSTM needs a static feature axis, got {input_shape}")
        u = self.units
        self.kernel = self.add_weight(
            name="kernel", shape=(features, 4 * u),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(u, 4 * u),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint,
        )
        self.bias = self.add_weight(
            name="bias", shape=(4 * u,),
            initializer=_bias_initializer(self.bias_initializer, u, self.forget_bias),
            regularizer=self.bias_regularizer, constraint=self.bias_constraint,
        )
        self.built = True

    # -- shapes / masks --------------------------------------------------------
    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return tuple(input_shape[:-1]) + (self.units,)
        return (input_shape[0], self.units)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    # -- forward ---------------------------------------------------------------
    def call(self, inputs, mask=None, lengths=None, training=None, initial_state=None,
             return_state=False):
        x = tf.convert_to_tensor(inputs)
        if x.dtype != self.compute_dtype:
            x = tf.cast(x, self.compute_dtype)
        if lengths is None and mask is not None:
            lengths = lengths_from_mask(mask)
        if lengths is not None:
            lengths = tf.cast(lengths, tf.int32)
        steps = tf.shape(x)[1]

        if training and self.dropout > 0:
            # One input mask per sequence, shared over time (as Keras does).
            keep = 1.0 - self.dropout
            noise = keras.random.uniform(
                tf.stack([tf.shape(x)[0], 1, tf.shape(x)[2]]), seed=self._seed_generator
            )
            x = x * tf.cast(noise < keep, x.dtype) / keep
        rec_mask = None
        if training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            noise = keras.random.uniform(
                tf.stack([tf.shape(x)[0], self.units]), seed=self._seed_generator
            )
            rec_mask = tf.cast(noise < keep, x.dtype) / keep

        if self.go_backwards:
            x = _reverse_time(x, lengths)
        kernel = tf.cast(tf.convert_to_tensor(self.kernel), x.dtype)
        bias = tf.cast(tf.convert_to_tensor(self.bias), x.dtype)
        recurrent = tf.cast(tf.convert_to_tensor(self.recurrent_kernel), x.dtype)
        # Input projection for every frame as one matmul outside the loop.
        features = x.shape[-1]
        flat = tf.reshape(x, [-1, features])
        xproj = tf.reshape(
            tf.matmul(flat, kernel) + bias,
            tf.stack([tf.shape(x)[0], steps, 4 * self.units]),
        )
        y = lstm_scan(
            xproj, recurrent, chunk=self.chunk, block=self.block,
            recurrent_dropout_mask=rec_mask, initial_state=initial_state,
            return_state=return_state,
        )
        if return_state:  # streaming: whole chunks, no padding (see lstm_scan)
            if lengths is not None or self.go_backwards or not self.return_sequences:
                raise ValueError("return_state is for forward sequences without lengths")
            return y
        if not self.return_sequences:
            if lengths is None:
                return y[:, -1]
            # Last processed valid step of each row (lengths 0 -> zeros).
            last = tf.maximum(lengths - 1, 0)
            out = tf.gather(y, last, axis=1, batch_dims=1)
            return out * tf.cast(lengths > 0, out.dtype)[:, tf.newaxis]
        if self.go_backwards:
            y = _reverse_time(y, lengths)
        if lengths is not None:
            y = y * tf.cast(sequence_mask(lengths, steps), y.dtype)[..., tf.newaxis]
        return y

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            go_backwards=self.go_backwards,
            return_sequences=self.return_sequences,
            forget_bias=self.forget_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            recurrent_regularizer=keras.regularizers.serialize(self.recurrent_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
            kernel_constraint=keras.constraints.serialize(self.kernel_constraint),
            recurrent_constraint=keras.constraints.serialize(self.recurrent_constraint),
            bias_constraint=keras.constraints.serialize(self.bias_constraint),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            chunk=self.chunk,
            block=self.block,
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="tfaudio")
class BiLoopLSTM(keras.layers.Layer):
    """Bidirectional :class:`LoopLSTM`: a forward and a backward layer, merged.

    Equivalent to ``keras.layers.Bidirectional(keras.layers.LSTM(units,
    return_sequences=...), merge_mode=merge)`` with the same weights (forward
    layer's weights first, then the backward layer's, as ``get_weights`` orders
    them), including for right-padded batches given as ``lengths`` / mask.

    Args:
        units: hidden size per direction.
        merge: "concat" (``[..., 2 * units]``), "sum", "mul" or "ave".
        forget_bias: forget-gate bias init for both directions (None = Keras' 1).
        return_sequences: per-frame outputs, or the two final states merged.
        **layer_kwargs: other :class:`LoopLSTM` arguments (initializers,
            regularizers, constraints, dropout, recurrent_dropout, chunk, block,
            seed)
            applied to both directions; Keras ``Layer`` keywords (name, dtype,
            trainable) go to this layer.
    """

    _LAYER_KEYS = (
        "kernel_initializer", "recurrent_initializer", "bias_initializer",
        "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
        "kernel_constraint", "recurrent_constraint", "bias_constraint",
        "dropout", "recurrent_dropout", "chunk", "block", "seed",
    )

    def __init__(
        self,
        units: int,
        merge: str = "concat",
        forget_bias: Optional[float] = -3.0,
        return_sequences: bool = True,
        **kwargs,
    ):
        layer_kwargs = {k: kwargs.pop(k) for k in self._LAYER_KEYS if k in kwargs}
        super().__init__(**kwargs)
        if merge not in _MERGE_MODES:
            raise ValueError(f"merge must be one of {_MERGE_MODES}, got {merge!r}")
        self.units = int(units)
        self.merge = merge
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        self.return_sequences = bool(return_sequences)
        self._layer_kwargs = layer_kwargs
        common = dict(
            units=self.units, forget_bias=self.forget_bias,
            return_sequences=self.return_sequences, dtype=self.dtype_policy,
            **layer_kwargs,
        )
        backward_kwargs = dict(common)
        if backward_kwargs.get("seed") is not None:
            backward_kwargs["seed"] = int(backward_kwargs["seed"]) + 1
        self.forward_layer = LoopLSTM(go_backwards=False, name="forward", **common)
        self.backward_layer = LoopLSTM(go_backwards=True, name="backward", **backward_kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        if self.merge == "concat":
            return tuple(out[:-1]) + (2 * self.units,)
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def call(self, inputs, mask=None, lengths=None, training=None):
        if lengths is None and mask is not None:
            lengths = lengths_from_mask(mask)
        fwd = self.forward_layer(inputs, lengths=lengths, training=training)
        bwd = self.backward_layer(inputs, lengths=lengths, training=training)
        if self.merge == "concat":
            return tf.concat([fwd, bwd], axis=-1)
        if self.merge == "sum":
            return fwd + bwd
        if self.merge == "mul":
            return fwd * bwd
        return (fwd + bwd) * 0.5

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            merge=self.merge,
            forget_bias=self.forget_bias,
            return_sequences=self.return_sequences,
        )
        # Plain values only: serialise Keras objects among the per-layer options.
        f = self.forward_layer.get_config()
        for key in self._layer_kwargs:
            config[key] = f[key]
        return config
