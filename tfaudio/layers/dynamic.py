"""Sample-specific ("dynamic") convolution and per-input layer normalisation.

In a dynamic filter network the weights of a convolution are not variables but the
output of another network, one set per input example. :class:`DynamicConv2D` applies
a different kernel to every example of the batch in one of three formulations, all
with the same outputs and gradients (tested against each other):

* ``"map"``: ``tf.map_fn`` over ``tf.nn.conv2d``, one convolution per example. In
  training its gradient is computed explicitly per example from the convolution's
  backprop ops (same values, less memory kept through the step). Fastest on CPU
  (benchmarks/dynamic_conv.py): about what one static convolution of the same size
  costs.
* ``"grouped"``: the batch folded into channels and one grouped convolution with one
  group per example.
* ``"matmul"``: im2col (the dilated kernel's shifted views side by side) and one
  batched matmul.

``"auto"`` (the default) picks per device kind (:data:`AUTO`): "map" on CPU, where it
was measured fastest; "grouped" on a GPU, where it is expected to win but has not been
measured yet. Every formulation lowers to TFLite builtin ops ("map": WHILE + CONV_2D;
"grouped": CONV_2D; "matmul": PAD, STRIDED_SLICE, CONCATENATION, BATCH_MATMUL).

:func:`layer_norm_hwc` normalises each example over (height, width, channels) —
statistics of the example itself, so nothing is learned from the batch — and
:class:`AffineLayerNorm` / the dynamic variant apply a per-channel scale and bias
that are either learned (static mask network) or generated per example.
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf


def _per_channel(v: tf.Tensor) -> tf.Tensor:
    """``[C]`` -> ``[1, 1, 1, C]``; ``[B, C]`` -> ``[B, 1, 1, C]``."""
    v = tf.convert_to_tensor(v)
    return v[tf.newaxis, tf.newaxis, tf.newaxis, :] if v.shape.rank == 1 else v[:, tf.newaxis, tf.newaxis, :]


def layer_norm_hwc(x: tf.Tensor, epsilon: float = 1e-5, scale=None, bias=None) -> tf.Tensor:
    """Zero mean, unit variance per example over all non-batch axes of ``[B, H, W, C]``,
    then the optional per-channel affine ``* scale + bias`` (``[C]`` or per example ``[B, C]``).

    Computed as ``x * a + b`` with ``a``, ``b`` of shape ``[B, 1, 1, C]``: two full-size ops
    instead of four, so a training step keeps two fewer full-size activations per layer
    for the gradient (the mask nets' memory is dominated by these).
    """
    mean, var = tf.nn.moments(x, axes=[1, 2, 3], keepdims=True)
    a = tf.math.rsqrt(var + epsilon)
    if scale is not None:
        a = a * _per_channel(scale)
    b = -mean * a
    if bias is not None:
        b = b + _per_channel(bias)
    return x * a + b


#: The ways :class:`DynamicConv2D` can compute a per-example convolution.
FORMULATIONS = ("map", "grouped", "matmul")
#: What a config may ask for: a formulation, or "auto" (chosen per device kind).
DYNAMIC_CONV_CHOICES = ("auto",) + FORMULATIONS
#: What "auto" picks on each device kind. CPU: measured (benchmarks/dynamic_conv.py, the
#: DFE layers at batch 16 and 64: "map" fastest). GPU: not measured yet; "grouped" is
#: expected to win there (one cuDNN grouped convolution per layer instead of a loop of
#: ``batch`` small kernel launches, and no 9x im2col tensor as "matmul" needs).
AUTO = {"CPU": "map", "GPU": "grouped"}


def device_kind() -> str:
    """``"GPU"`` when TensorFlow places ops on a GPU by default (one is visible), else ``"CPU"``."""
    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


def resolve_formulation(formulation: str, kind: Optional[str] = None) -> str:
    """The formulation that ``formulation`` means on device ``kind`` (default: this process's)."""
    if formulation not in DYNAMIC_CONV_CHOICES:
        raise ValueError(f"dynamic conv formulation {formulation!r}: choose one of {', '.join(DYNAMIC_CONV_CHOICES)}")
    if formulation != "auto":
        return formulation
    return AUTO[kind or device_kind()]


def _pads(size: int, dilation: int, padding: str):
    """(before, after) zero padding of one spatial axis for a stride-1 convolution."""
    if padding == "VALID":
        return 0, 0
    extent = (size - 1) * dilation + 1
    return (extent - 1) // 2, extent - 1 - (extent - 1) // 2


def _dim(x: tf.Tensor, axis: int):
    """The static size of ``axis`` if known, else the dynamic one."""
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def conv_map(x, kernels, dilations, padding: str = "SAME"):
    """One ``tf.nn.conv2d`` per example, in a ``tf.map_fn`` (lowers to TFLite WHILE + CONV_2D)."""
    spec = tf.TensorSpec(shape=_out_shape(x, kernels, dilations, padding)[1:], dtype=x.dtype)

    def one(args):
        xi, ki = args
        return tf.nn.conv2d(xi[tf.newaxis], ki, strides=1, padding=padding, dilations=dilations)[0]

    return tf.map_fn(one, (x, kernels), fn_output_signature=spec)


def conv_grouped(x, kernels, dilations, padding: str = "SAME"):
    """The batch folded into channels, ``[1, H, W, B * C_in]``, and one grouped convolution
    with ``B`` groups (``tf.nn.conv2d`` infers the group count from the filter's input
    depth): group ``b`` sees only example ``b``'s channels and applies its kernel."""
    b = _dim(x, 0)
    kh, kw, cin, cout = kernels.shape[1:]
    folded = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, _dim(x, 1), _dim(x, 2), b * cin])
    filters = tf.reshape(tf.transpose(kernels, [1, 2, 3, 0, 4]), [kh, kw, cin, b * cout])
    y = tf.nn.conv2d(folded, filters, strides=1, padding=padding, dilations=dilations)
    y = tf.transpose(tf.reshape(y, [_dim(y, 1), _dim(y, 2), b, cout]), [2, 0, 1, 3])
    return _with_static_shape(y, x, kernels, dilations, padding)


def conv_matmul(x, kernels, dilations, padding: str = "SAME"):
    """im2col + one batched matmul: the ``kh * kw`` shifted (dilated) views of the padded
    input side by side, ``[B, H * W, kh * kw * C_in]``, times each example's kernel
    reshaped to ``[B, kh * kw * C_in, C_out]``. Builtin ops only (PAD, STRIDED_SLICE,
    CONCATENATION, BATCH_MATMUL); the patch tensor is ``kh * kw`` times the input."""
    kh, kw, cin, cout = kernels.shape[1:]
    dh, dw = dilations
    (t, bo), (le, r) = _pads(kh, dh, padding), _pads(kw, dw, padding)
    xp = tf.pad(x, [[0, 0], [t, bo], [le, r], [0, 0]]) if t + bo + le + r else x
    b = _dim(x, 0)
    ho = _dim(xp, 1) - (kh - 1) * dh
    wo = _dim(xp, 2) - (kw - 1) * dw
    cols = [xp[:, i * dh:i * dh + ho, j * dw:j * dw + wo, :] for i in range(kh) for j in range(kw)]
    patches = tf.reshape(tf.concat(cols, axis=-1), [b, ho * wo, kh * kw * cin])  # (i, j, c) order
    y = tf.matmul(patches, tf.reshape(kernels, [b, kh * kw * cin, cout]))
    return _with_static_shape(tf.reshape(y, [b, ho, wo, cout]), x, kernels, dilations, padding)


def _out_shape(x, kernels, dilations, padding):
    """The static output shape (``None`` where unknown) of a stride-1 convolution."""
    if padding == "SAME":
        spatial = list(x.shape[1:3])
    else:
        spatial = [None if n is None else n - (k - 1) * d
                   for n, k, d in zip(x.shape[1:3], kernels.shape[1:3], dilations)]
    return [x.shape[0], *spatial, kernels.shape[-1]]


def _with_static_shape(y, x, kernels, dilations, padding):
    y.set_shape(_out_shape(x, kernels, dilations, padding))
    return y


_CONV = {"map": conv_map, "grouped": conv_grouped, "matmul": conv_matmul}


@keras.saving.register_keras_serializable(package="tfaudio")
class DynamicConv2D(keras.layers.Layer):
    """Convolve each example with its own kernel.

    ``call(x, kernels)``: ``x`` is ``[B, H, W, C_in]``, ``kernels`` is
    ``[B, kh, kw, C_in, C_out]``; stride 1, ``padding`` "SAME" or "VALID", dilation
    ``dilation_rate``. Output ``[B, H, W, C_out]`` ("SAME").

    ``formulation``: "map" (a ``tf.map_fn`` of ``tf.nn.conv2d``; in training its gradient
    is taken per example from the convolution's backprop ops), "grouped" (the batch
    folded into channels, one grouped convolution), "matmul" (im2col + one batched
    matmul), or "auto": :data:`AUTO` for the device kind TensorFlow places ops on,
    resolved when the layer is first called (``resolved_formulation``). All give the same
    outputs and gradients. On CPU "map" is the measured winner; on a GPU "auto" picks
    "grouped", which is the expected winner there but not measured yet.
    """

    def __init__(self, dilation_rate=1, padding: str = "SAME", formulation: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if isinstance(dilation_rate, int):
            dilation_rate = (dilation_rate, dilation_rate)
        self.dilation_rate = tuple(int(d) for d in dilation_rate)
        self.padding = padding.upper()
        if self.padding not in ("SAME", "VALID"):
            raise ValueError(f"padding {padding!r}: use 'SAME' or 'VALID'")
        resolve_formulation(formulation, "CPU")  # validates the name
        self.formulation = formulation
        self.resolved_formulation: Optional[str] = None if formulation == "auto" else formulation

    def _forward(self, x, kernels, formulation: str = "map"):
        return _CONV[formulation](x, kernels, self.dilation_rate, self.padding)

    def _forward_with_explicit_gradient(self, x, kernels):
        """The "map" forward; the gradient is computed per example with the convolution's
        backprop ops from ``x``, ``kernels`` and the incoming gradient, so the training step
        does not keep the per-iteration copies the while loop's own gradient would."""
        strides = [1, 1, 1, 1]
        dilations = [1, *self.dilation_rate, 1]
        x_spec = tf.TensorSpec(x.shape[1:], x.dtype)
        k_spec = tf.TensorSpec(kernels.shape[1:], kernels.dtype)

        @tf.custom_gradient
        def conv(x, kernels):
            def grad(dy):
                def one(args):
                    xi, ki, dyi = args
                    dx = tf.compat.v1.nn.conv2d_backprop_input(
                        tf.shape(xi[tf.newaxis]), ki, dyi[tf.newaxis], strides, self.padding,
                        dilations=dilations)[0]
                    dk = tf.compat.v1.nn.conv2d_backprop_filter(
                        xi[tf.newaxis], tf.shape(ki), dyi[tf.newaxis], strides, self.padding,
                        dilations=dilations)
                    return dx, dk

                return tf.map_fn(one, (x, kernels, dy), fn_output_signature=(x_spec, k_spec))

            return self._forward(x, kernels), grad

        return conv(x, kernels)

    def call(self, x, kernels, training=False):
        if self.resolved_formulation is None:
            self.resolved_formulation = resolve_formulation(self.formulation)
        formulation = self.resolved_formulation
        # "map" in training: explicit per-example gradient (same values and speed; the DFE
        # step at batch 32 on 40x249 features needed 17% less memory); inference and
        # export: the plain map_fn graph
        if formulation == "map" and training:
            return self._forward_with_explicit_gradient(x, kernels)
        return self._forward(x, kernels, formulation)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(dilation_rate=list(self.dilation_rate), padding=self.padding, formulation=self.formulation)
        return cfg


@keras.saving.register_keras_serializable(package="tfaudio")
class AffineLayerNorm(keras.layers.Layer):
    """Layer normalisation over (H, W, C) with a learned per-channel scale and bias."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        c = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(c,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(c,), initializer="zeros")

    def call(self, x):
        return layer_norm_hwc(x, self.epsilon, self.gamma, self.beta)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(epsilon=self.epsilon)
        return cfg
