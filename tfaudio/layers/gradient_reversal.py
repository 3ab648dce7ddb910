"""Gradient reversal: identity in the forward pass, ``-alpha * dy`` in the backward pass.

Placed between a feature extractor and a domain classifier, it lets one optimizer
step train the classifier to tell the domains apart while the extractor is pushed,
through the reversed gradient, towards features from which it cannot.
``alpha`` is a plain float (serializable, fixed at construction); a schedule can
change it through :attr:`GradientReversal.alpha_variable` between steps.
"""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfaudio")
class GradientReversal(keras.layers.Layer):
    """``y = x``; ``dL/dx = -alpha * dL/dy``."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.alpha_variable = None

    def build(self, input_shape):
        self.alpha_variable = self.add_weight(
            name="alpha", shape=(), initializer=keras.initializers.Constant(self.alpha),
            trainable=False, dtype="float32")
        super().build(input_shape)

    def call(self, inputs):
        alpha = tf.cast(self.alpha_variable, inputs.dtype)

        @tf.custom_gradient
        def reverse(x):
            def grad(dy):
                return -alpha * dy

            return tf.identity(x), grad

        return reverse(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha)
        return config
