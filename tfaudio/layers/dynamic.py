"""Sample-specific ("dynamic") convolution and per-input layer normalisation.

In a dynamic filter network the weights of a convolution are not variables but the
output of another network, one set per input example. :class:`DynamicConv2D` applies
a different kernel to every example of the batch with ``tf.map_fn`` over
``tf.nn.conv2d``: on this project's CPU shapes that costs about what one static
convolution of the same size costs (folding the batch into groups and im2col were
1.7-4x slower), it lowers to TFLite builtin ops (WHILE + CONV_2D) and its gradient
with respect to both the input and the generated kernel is exact. With
``training=True`` the gradient is computed explicitly per example from the
convolution's backprop ops (same values, less memory kept through the step).

:func:`layer_norm_hwc` normalises each example over (height, width, channels) —
statistics of the example itself, so nothing is learned from the batch — and
:class:`AffineLayerNorm` / the dynamic variant apply a per-channel scale and bias
that are either learned (static mask network) or generated per example.
"""
from __future__ import annotations

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


@keras.saving.register_keras_serializable(package="tfaudio")
class DynamicConv2D(keras.layers.Layer):
    """Convolve each example with its own kernel.

    ``call(x, kernels)``: ``x`` is ``[B, H, W, C_in]``, ``kernels`` is
    ``[B, kh, kw, C_in, C_out]``; stride 1, ``padding`` "SAME", dilation
    ``dilation_rate``. Output ``[B, H, W, C_out]``.
    """

    def __init__(self, dilation_rate=1, padding: str = "SAME", **kwargs):
        super().__init__(**kwargs)
        if isinstance(dilation_rate, int):
            dilation_rate = (dilation_rate, dilation_rate)
        self.dilation_rate = tuple(int(d) for d in dilation_rate)
        self.padding = padding.upper()

    def _forward(self, x, kernels):
        def one(args):
            xi, ki = args
            return tf.nn.conv2d(
                xi[tf.newaxis], ki, strides=1, padding=self.padding, dilations=self.dilation_rate
            )[0]

        out_channels = kernels.shape[-1]
        spec = tf.TensorSpec(shape=[x.shape[1], x.shape[2], out_channels], dtype=x.dtype)
        return tf.map_fn(one, (x, kernels), fn_output_signature=spec)

    def _forward_with_explicit_gradient(self, x, kernels):
        """The same forward; the gradient is computed per example with the convolution's
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
        # training: explicit per-example gradient (same values and speed; the DFE step at
        # batch 32 on 40x249 features needed 17% less memory); inference and export: the
        # plain map_fn graph
        if training:
            return self._forward_with_explicit_gradient(x, kernels)
        return self._forward(x, kernels)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(dilation_rate=list(self.dilation_rate), padding=self.padding)
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
