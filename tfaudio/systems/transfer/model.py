"""The frame-level ConvNet acoustic model (forward passes only) and the waveform-in server.

Input: ``[batch, 2 c + 1, mels]`` log-mel windows (31 x 40), standardised with the
training subset's per-coefficient mean and variance (non-trainable weights of the
``norm`` block, so an exported model takes raw log-mels), laid out as an image
``[batch, mels, frames, 1]``. Named blocks, the paper's layers 1-6:

=====  ===============================================================
conv1  conv 64 5x4 (l2) -> BatchNorm -> ReLU -> max-pool 2x2 / 2
conv2  conv 128 3x3 (l2) -> BatchNorm -> ReLU -> max-pool 2x2 / 2
fc3    dense 1024 -> BatchNorm -> ReLU -> dropout (retention 0.6)
fc4    as fc3
fc5    as fc3
out    dense 144 (ASR) or 5 (SER) -> softmax
=====  ===============================================================

He initialisation (Keras ``HeNormal``: zero mean, standard deviation sqrt(2 / fan-in),
truncated at two standard deviations). :attr:`AcousticModel.frozen`
= l runs the first l blocks in inference mode (BatchNorm statistics held) — the
training task also leaves their weights out of the optimiser.
"""
from __future__ import annotations

from typing import List

import keras
import numpy as np
import tensorflow as tf

from tfaudio.features import FeatureFrontend
from tfaudio.systems.transfer.config import LAYERS, TransferFrontendConfig, TransferModelConfig

BLOCKS = ("conv1", "conv2", "fc3", "fc4", "fc5", "out")
TRANSFERABLE = BLOCKS[:-1]
assert len(TRANSFERABLE) == LAYERS, "config.LAYERS counts the transferable blocks"


def make_frontend(cfg: TransferFrontendConfig) -> FeatureFrontend:
    """40 log-mel filterbanks (natural log of mel power), 25 ms Hamming, 10 ms stride."""
    return FeatureFrontend(sample_rate=cfg.sample_rate, frame_length=cfg.frame_length, frame_step=cfg.frame_step,
                           fft_length=cfg.fft_length, window=cfg.window, center=False, power=2.0,
                           num_mel_bins=cfg.num_mel_bins, log="natural", log_floor=cfg.log_floor,
                           normalization=None, name="frontend")


class Standardize(keras.layers.Layer):
    """``(x - mean) / std`` per coefficient, statistics set from training frames."""

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.mean = self.add_weight(shape=(d,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(d,), initializer="ones", trainable=False, name="std")

    def call(self, x):
        return (x - self.mean) / self.std


def _he():
    return keras.initializers.HeNormal()


class ConvBlock(keras.Model):
    def __init__(self, filters: int, kernel, l2: float, momentum: float, **kw):
        super().__init__(**kw)
        self.conv = keras.layers.Conv2D(filters, tuple(kernel), padding="same", kernel_initializer=_he(),
                                        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)
        self.bn = keras.layers.BatchNormalization(momentum=momentum)
        self.pool = keras.layers.MaxPooling2D(2, 2, padding="same")

    def call(self, x, training=False):
        return self.pool(tf.nn.relu(self.bn(self.conv(x), training=training)))


class DenseBlock(keras.Model):
    def __init__(self, units: int, dropout: float, momentum: float, **kw):
        super().__init__(**kw)
        self.dense = keras.layers.Dense(units, kernel_initializer=_he())
        self.bn = keras.layers.BatchNormalization(momentum=momentum)
        self.drop = keras.layers.Dropout(dropout)

    def call(self, x, training=False):
        return self.drop(tf.nn.relu(self.bn(self.dense(x), training=training)), training=training)


class AcousticModel(keras.Model):
    """``[batch, frames, mels]`` windows -> class probabilities ``[batch, classes]``."""

    def __init__(self, cfg: TransferModelConfig, num_classes: int, window: int, mels: int, **kw):
        super().__init__(**kw)
        self.num_classes, self.window, self.mels = int(num_classes), int(window), int(mels)
        self.frozen = 0
        self.norm = Standardize(name="norm")
        self.blocks = {
            "conv1": ConvBlock(cfg.conv_filters[0], cfg.conv_kernels[0], cfg.l2, cfg.bn_momentum, name="conv1"),
            "conv2": ConvBlock(cfg.conv_filters[1], cfg.conv_kernels[1], cfg.l2, cfg.bn_momentum, name="conv2"),
            "fc3": DenseBlock(cfg.fc_units[0], cfg.dropout, cfg.bn_momentum, name="fc3"),
            "fc4": DenseBlock(cfg.fc_units[1], cfg.dropout, cfg.bn_momentum, name="fc4"),
            "fc5": DenseBlock(cfg.fc_units[2], cfg.dropout, cfg.bn_momentum, name="fc5"),
            "out": keras.layers.Dense(num_classes, kernel_initializer=_he(), name="out"),
        }
        self.flatten = keras.layers.Flatten()
        self(tf.zeros([1, self.window, self.mels]))

    def logits(self, x, training=False):
        h = self.norm(x)
        h = tf.expand_dims(tf.transpose(h, [0, 2, 1]), -1)  # [B, mels, frames, 1]
        for i, name in enumerate(BLOCKS[:-1]):
            if name == "fc3":
                h = self.flatten(h)
            h = self.blocks[name](h, training=training and i >= self.frozen)
        return self.blocks["out"](h)

    def call(self, x, training=False):
        return tf.nn.softmax(self.logits(x, training=training), axis=-1)

    def set_norm(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.norm.mean.assign(np.asarray(mean, np.float32))
        self.norm.std.assign(np.maximum(np.asarray(std, np.float32), 1e-5))

    def named_parts(self) -> dict:
        """What checkpoints store, by name: ``norm`` and the six blocks."""
        return {"norm": self.norm, **self.blocks}

    def block_variables(self, names) -> List[tf.Variable]:
        return [v for n in names for v in self.blocks[n].trainable_variables]

    def regularization(self) -> tf.Tensor:
        return tf.add_n([tf.add_n(b.losses) for n, b in self.blocks.items() if b.losses] or [tf.constant(0.0)])


def context_indices(num_frames, context: int):
    """``[frames, 2 c + 1]`` frame indices of each frame's window, clamped at the edges."""
    t = tf.range(num_frames)[:, None] + tf.range(-context, context + 1)[None, :]
    return tf.clip_by_value(t, 0, tf.maximum(num_frames - 1, 0))


def context_windows(features, context: int):
    """``[batch, frames, mels]`` -> ``[batch, frames, 2 c + 1, mels]`` (edges clamped)."""
    idx = context_indices(tf.shape(features)[1], context)
    return tf.gather(features, idx, axis=1)


def frame_posteriors(frontend: FeatureFrontend, model: AcousticModel, waveform, context: int):
    """Waveform ``[batch, samples]`` -> frame posteriors ``[batch, frames, classes]``."""
    feats = frontend(waveform)
    win = context_windows(feats, context)
    b, t = tf.shape(win)[0], tf.shape(win)[1]
    flat = tf.reshape(win, [b * t, model.window, model.mels])
    return tf.reshape(model(flat, training=False), [b, t, model.num_classes])


def utterance_emotions(posteriors, silence: int):
    """Share of the non-silent frames whose decision is each emotion (majority vote
    as probabilities, ``[batch, classes - 1]``); mean posteriors when every frame is silent."""
    k = posteriors.shape[-1]
    dec = tf.argmax(posteriors, axis=-1, output_type=tf.int32)
    votes = tf.reduce_sum(tf.one_hot(dec, k), axis=1)[:, :silence]
    total = tf.reduce_sum(votes, axis=-1, keepdims=True)
    mean = tf.reduce_mean(posteriors, axis=1)[:, :silence]
    fallback = mean / tf.maximum(tf.reduce_sum(mean, axis=-1, keepdims=True), 1e-12)
    return tf.where(total > 0, votes / tf.maximum(total, 1.0), fallback)
