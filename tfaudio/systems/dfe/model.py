"""DFE: dynamic time-frequency mask feature enhancement (forward passes only).

Input features are min-max normalised log-mel spectrograms ``[B, frames, mels]``
(the project's :class:`~tfaudio.features.FeatureFrontend`). Inside the networks they
are laid out as images ``[B, mels, frames, 1]`` (frequency x time, as the paper's
40 x 248), so the 3x4 pools with stride 2x3 shrink time faster than frequency.

Parts (sizes from section 4 of the paper):

* :class:`CNNFC` — the classifier: five 3x3 convs [12, 36, 72, 96, 96], max pools after
  the 1st (3x3, stride 2x2), 3rd and 5th (3x4, stride 2x3), one softmax FC.
* :class:`StaticMaskNet` (SFE) — five dilated 3x3 convs [24, 96, 96, 96, 1] with
  dilations [1, 2, 4, 8, 1], layer norm with learned affine + ReLU, sigmoid mask.
* :class:`FilterGenerator` — three dilated convs [12, 72, 256] (dilations [6, 4, 1]),
  each with batch norm, max pool and ReLU, averaged to a 256-d vector; FC 1-5 emit the
  dynamic convs' kernels, FC 6-10 the per-example layer-norm scale and bias.
* :class:`DynamicMaskNet` (DFE) — the generator plus the dynamic filter layer: the same
  five dilated convs as SFE but with the generated kernels, per-example affine; the
  convolutions' formulation is ``cfg.dynamic_conv`` (see :mod:`tfaudio.layers.dynamic`).
* :class:`MaskedClassifier` — one or more mask nets applied in sequence
  (x <- x * m(x)), then the (frozen) classifier. DFE: [g]; cascade DCL: [g1, g2] with
  g1 frozen; shared DSL: [g, g], one generator used twice.

Choices where the paper is silent are marked "(choice)" and documented in
docs/architecture.md.
"""
from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tfaudio.systems.dfe.config import DFEModelConfig
from tfaudio.layers.dynamic import AffineLayerNorm, DynamicConv2D, layer_norm_hwc


def to_image(features: tf.Tensor) -> tf.Tensor:
    """``[B, frames, mels]`` -> ``[B, mels, frames, 1]``."""
    return tf.transpose(features, [0, 2, 1])[..., tf.newaxis]


def to_features(image: tf.Tensor) -> tf.Tensor:
    """``[B, mels, frames, 1]`` -> ``[B, frames, mels]``."""
    return tf.transpose(image[..., 0], [0, 2, 1])


def _pool(index: int) -> keras.layers.MaxPooling2D:
    """The paper's pools: 3x3 stride 2x2 first, then 3x4 stride 2x3 ('same' padding, choice)."""
    if index == 0:
        return keras.layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same")
    return keras.layers.MaxPooling2D((3, 4), strides=(2, 3), padding="same")


PAPER_NUM_CLASSES = 10  # UrbanSound8K; used only by a model built without a resolved count


class CNNFC(keras.Model):
    """The CNN-FC classifier on ``[B, frames, mels]`` features; returns logits.

    Outputs ``cfg.num_classes`` logits (the paper's 10 when the config leaves it to the
    data and no data resolved it, e.g. a model built on its own for a benchmark).
    """

    POOL_AFTER = {0: 0, 2: 1, 4: 2}  # conv index -> pool index (1st, 3rd, 5th conv)

    def __init__(self, cfg: DFEModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.blocks = []
        for i, f in enumerate(cfg.classifier_filters):
            block = [
                keras.layers.Conv2D(f, cfg.kernel_size, padding="same", use_bias=False),
                keras.layers.BatchNormalization(momentum=cfg.bn_momentum, synchronized=True),
                keras.layers.ReLU(),
            ]
            if i in self.POOL_AFTER:
                block.append(_pool(self.POOL_AFTER[i]))
            self.blocks.append(block)
        self.flatten = keras.layers.Flatten()
        self.dropout = keras.layers.Dropout(cfg.classifier_dropout)
        self.fc = keras.layers.Dense(cfg.num_classes if cfg.num_classes is not None else PAPER_NUM_CLASSES)

    def call(self, features, training=False):
        x = to_image(features)
        for block in self.blocks:
            for layer in block:
                x = layer(x, training=training) if isinstance(
                    layer, keras.layers.BatchNormalization
                ) else layer(x)
        x = self.dropout(self.flatten(x), training=training)
        return self.fc(x)


class StaticMaskNet(keras.Model):
    """SFE: a static dilated-conv mask network, ``[B, mels, frames, 1]`` -> mask in (0, 1)."""

    def __init__(self, cfg: DFEModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.convs = [
            keras.layers.Conv2D(f, cfg.kernel_size, padding="same", dilation_rate=d, use_bias=False)
            for f, d in zip(cfg.mask_filters, cfg.mask_dilations)
        ]
        self.norms = [AffineLayerNorm() for _ in cfg.mask_filters]

    def call(self, image, training=False):
        x = image
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x))
            x = tf.sigmoid(x) if i == last else tf.nn.relu(x)
        return x


class FilterGenerator(keras.Model):
    """Image -> kernels and layer-norm (scale, bias) of the dynamic filter layer."""

    def __init__(self, cfg: DFEModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.convs = [
            keras.layers.Conv2D(f, cfg.kernel_size, padding="same", dilation_rate=d, use_bias=False)
            for f, d in zip(cfg.generator_filters, cfg.generator_dilations)
        ]
        self.bns = [keras.layers.BatchNormalization(momentum=cfg.bn_momentum, synchronized=True) for _ in cfg.generator_filters]
        self.pools = [_pool(i) for i in range(len(cfg.generator_filters))]
        k = cfg.kernel_size
        in_ch = (1,) + tuple(cfg.mask_filters[:-1])
        self.kernel_shapes = [(k, k, ci, co) for ci, co in zip(in_ch, cfg.mask_filters)]
        # FC 1-5: the dynamic kernels. FC 6-10: 2*C values each (scale, bias).
        self.kernel_fcs = [
            keras.layers.Dense(k * k * ci * co, name=f"fc{j + 1}")
            for j, (_, _, ci, co) in enumerate(self.kernel_shapes)
        ]
        self.affine_fcs = [
            keras.layers.Dense(2 * co, kernel_initializer="zeros", name=f"fc{j + 6}")
            for j, co in enumerate(cfg.mask_filters)
        ]

    def call(self, image, training=False):
        x = image
        for conv, bn, pool in zip(self.convs, self.bns, self.pools):
            x = tf.nn.relu(pool(bn(conv(x), training=training)))
        v = tf.reduce_mean(x, axis=[1, 2])  # feature averaging -> [B, 256]
        kernels = [
            tf.reshape(fc(v), (-1,) + shape) for fc, shape in zip(self.kernel_fcs, self.kernel_shapes)
        ]
        affines = []
        for fc in self.affine_fcs:
            scale_delta, bias = tf.split(fc(v), 2, axis=-1)
            affines.append((1.0 + scale_delta, bias))  # (choice) scale starts at 1
        return kernels, affines


class DynamicMaskNet(keras.Model):
    """DFE mask: a filter generator and the dynamic filter layer it parameterises."""

    def __init__(self, cfg: DFEModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.generator = FilterGenerator(cfg)
        self.dyn_convs = [DynamicConv2D(d, formulation=cfg.dynamic_conv) for d in cfg.mask_dilations]

    def call(self, image, training=False):
        kernels, affines = self.generator(image, training=training)
        x = image
        last = len(self.dyn_convs) - 1
        for i, (conv, k, (scale, bias)) in enumerate(zip(self.dyn_convs, kernels, affines)):
            x = layer_norm_hwc(conv(x, k, training=training), scale=scale, bias=bias)
            x = tf.sigmoid(x) if i == last else tf.nn.relu(x)
        return x


class MaskedClassifier(keras.Model):
    """Mask nets applied in sequence to the features, then the classifier.

    Returns ``{"logits", "probs", "masks" (list of [B, frames, mels]), "enhanced"}``.
    """

    def __init__(self, classifier: CNNFC, mask_nets: Sequence[keras.Model], **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.mask_nets = list(mask_nets)

    def call(self, features, training=False):
        x = to_image(features)
        masks = []
        for net in self.mask_nets:
            m = net(x, training=training)
            masks.append(to_features(m))
            x = x * m
        enhanced = to_features(x)
        logits = self.classifier(enhanced, training=False)  # frozen: BN in inference mode
        return {
            "logits": logits,
            "probs": tf.nn.softmax(logits),
            "masks": masks,
            "enhanced": enhanced,
        }


def build(model: keras.Model, frames: int, mels: int) -> keras.Model:
    """Create the variables of a model taking ``[B, frames, mels]`` (or its image)."""
    if isinstance(model, (CNNFC, MaskedClassifier)):
        model(tf.zeros([1, frames, mels]))
    else:
        model(tf.zeros([1, mels, frames, 1]))
    return model


def count_params(model: keras.Model, trainable_only: bool = False) -> int:
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(int(tf.size(w)) for w in weights))
