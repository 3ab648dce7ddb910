"""COLA networks (forward passes only).

* Front-end: the project's :class:`FeatureFrontend` (log-mel magnitude, 25 ms / 10 ms,
  64 bins over 60-7800 Hz), in the graph of training and of every export.
* Encoder f: EfficientNet-B0 from ``keras.applications`` (``weights=None``, one input
  channel, global max pooling -> 1280) *without* its image stem: Keras always puts
  ``Rescaling(1/255)`` and ``Normalization`` layers in front of the first convolution,
  which are meaningless for log-mel input. The encoder is the sub-graph that starts
  at the first convolution's padding layer (``stem_conv_pad``): the same layers and
  weights, minus those two.
* Projection g: Dense 512 -> LayerNorm -> tanh; similarity bilinear (``z_a^T W z_p``)
  or cosine over a temperature.
* Segments: a clip's features cut into non-overlapping ``segment_frames`` windows
  (a clip shorter than one segment is zero padded first); a clip's embedding is
  the mean of its segments' embeddings, a clip's logits the mean of its segments'.
"""
from __future__ import annotations

from typing import Tuple

import keras
import numpy as np
import tensorflow as tf

from tfaudio.features import FeatureFrontend
from tfaudio.systems.cola.config import ColaFrontendConfig, ColaModelConfig

STEM_LAYERS = ("Rescaling", "Normalization")


def make_frontend(cfg: ColaFrontendConfig) -> FeatureFrontend:
    return FeatureFrontend(sample_rate=cfg.sample_rate, frame_length=cfg.frame_length, frame_step=cfg.frame_step,
                           fft_length=cfg.fft_length, window=cfg.window, center=False, power=1.0,
                           num_mel_bins=cfg.num_mel_bins, fmin=cfg.fmin, fmax=cfg.fmax, log="natural",
                           log_floor=cfg.log_floor, normalization=None, name="frontend")


def segment_samples(cfg: ColaFrontendConfig) -> int:
    """Samples whose features are exactly one segment (96 frames: 15,600 at 16 kHz)."""
    return cfg.frame_length + (cfg.segment_frames - 1) * cfg.frame_step


def build_encoder(cfg: ColaModelConfig, fe: ColaFrontendConfig, name: str = "encoder") -> keras.Model:
    """EfficientNet (B0 at width = depth = 1) on ``[segment_frames, mels, 1]``, global
    max pooling, without the Rescaling / Normalization image stem."""
    from keras.src.applications.efficientnet import EfficientNet

    full = EfficientNet(cfg.width, cfg.depth, 224, dropout_rate=0.0, include_top=False, weights=None,
                        input_shape=(fe.segment_frames, fe.num_mel_bins, 1), pooling="max",
                        name="efficientnetb0" if (cfg.width, cfg.depth) == (1.0, 1.0) else "efficientnet")
    encoder = keras.Model(full.get_layer("stem_conv_pad").input, full.output, name=name)
    for layer in encoder.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(cfg.bn_momentum)
    return encoder


def stem_layers(model: keras.Model) -> list:
    """Names of image-stem layers (Rescaling / Normalization) inside ``model``."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if type(layer).__name__ in STEM_LAYERS:
            out.append(layer.name)
    return out


class ProjectionHead(keras.Model):
    """g (Dense -> LayerNorm -> tanh) and the similarity of anchors to positives."""

    def __init__(self, cfg: ColaModelConfig, **kw):
        super().__init__(name="projection", **kw)
        self.similarity, self.temperature = cfg.similarity, float(cfg.temperature)
        self.dense = keras.layers.Dense(cfg.projection_units, name="g_dense")
        self.norm = keras.layers.LayerNormalization(name="g_norm")
        self.bilinear = keras.layers.Dense(cfg.projection_units, use_bias=False, name="bilinear_w")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.norm.build((None, self.dense.units))
        self.bilinear.build((None, self.dense.units))
        self.built = True

    def call(self, h):
        return tf.tanh(self.norm(self.dense(h)))

    def logits(self, z_anchor, z_positive):
        """``[anchors, positives]`` similarities: ``z_a^T W z_p`` or ``cos / temperature``."""
        if self.similarity == "bilinear":
            return tf.matmul(z_anchor, self.bilinear(z_positive), transpose_b=True)
        a = tf.math.l2_normalize(z_anchor, axis=-1)
        p = tf.math.l2_normalize(z_positive, axis=-1)
        return tf.matmul(a, p, transpose_b=True) / self.temperature


def contrastive_loss(logits, labels) -> tf.Tensor:
    """Per-anchor multi-class cross entropy: the positive against every other positive."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def crop(waveform, offsets, length: int):
    """``[B, length]`` windows of ``waveform [B, L]`` starting at ``offsets [B]``
    (zero padding a batch shorter than ``length``)."""
    waveform = tf.pad(waveform, [[0, 0], [0, tf.maximum(length - tf.shape(waveform)[1], 0)]])
    idx = tf.cast(offsets, tf.int32)[:, None] + tf.range(length)[None, :]
    return tf.gather(waveform, idx, batch_dims=1)


def pair_offsets(lengths, length: int, seed) -> Tuple[tf.Tensor, tf.Tensor]:
    """Start samples of an anchor and a positive inside each clip: uniform over the
    clip, two *different* starts whenever the clip is longer than a segment (a
    clip shorter than a segment gives its one, padded, segment twice)."""
    span = tf.maximum(tf.cast(lengths, tf.int32) - length, 0)
    n = tf.shape(span)[0]
    u1 = tf.random.stateless_uniform([n], seed=seed)
    u2 = tf.random.stateless_uniform([n], seed=seed + tf.constant([0, 1], seed.dtype))
    first = tf.minimum(tf.cast(u1 * tf.cast(span + 1, tf.float32), tf.int32), span)
    shift = tf.minimum(tf.cast(u2 * tf.cast(span, tf.float32), tf.int32), tf.maximum(span - 1, 0))
    second = tf.where(span > 0, (first + 1 + shift) % (span + 1), 0)
    return first, second


def random_offsets(lengths, length: int, seed) -> tf.Tensor:
    span = tf.maximum(tf.cast(lengths, tf.int32) - length, 0)
    u = tf.random.stateless_uniform(tf.shape(span), seed=seed)
    return tf.minimum(tf.cast(u * tf.cast(span + 1, tf.float32), tf.int32), span)


def segments(features, segment_frames: int):
    """``[B, T, M]`` -> ``[B * n, segment_frames, M, 1]`` and n: the non-overlapping
    segments of each clip (``T >= segment_frames``; a partial last segment is dropped)."""
    n = tf.shape(features)[1] // segment_frames
    mels = features.shape[-1]
    cut = features[:, : n * segment_frames]
    return tf.reshape(cut, [-1, segment_frames, mels, 1]), n


def pad_to_segment(waveform, num_samples: int):
    return tf.pad(waveform, [[0, 0], [0, tf.maximum(num_samples - tf.shape(waveform)[1], 0)]])


def embed_waveform(frontend, encoder, waveform, fe: ColaFrontendConfig):
    """Waveform ``[B, L]`` of any length -> (per-segment embeddings ``[B, n, D]``, clip mean ``[B, D]``)."""
    x = pad_to_segment(tf.cast(waveform, tf.float32), segment_samples(fe))
    segs, n = segments(frontend(x), fe.segment_frames)
    h = encoder(segs, training=False)
    per_segment = tf.reshape(h, [tf.shape(x)[0], n, h.shape[-1]])
    return per_segment, tf.reduce_mean(per_segment, axis=1)


def classify_waveform(frontend, encoder, head, waveform, fe: ColaFrontendConfig):
    """Waveform ``[B, L]`` -> (clip logits ``[B, K]`` = mean of the segments' logits, segment logits ``[B, n, K]``)."""
    x = pad_to_segment(tf.cast(waveform, tf.float32), segment_samples(fe))
    segs, n = segments(frontend(x), fe.segment_frames)
    logits = head(encoder(segs, training=False))
    per_segment = tf.reshape(logits, [tf.shape(x)[0], n, logits.shape[-1]])
    return tf.reduce_mean(per_segment, axis=1), per_segment


def average_by_clip(values: np.ndarray, clip_index: np.ndarray, num_clips: int) -> np.ndarray:
    """Mean of the rows of ``values`` that belong to each clip (``clip_index`` per row)."""
    values = np.asarray(values, np.float64)
    sums = np.zeros((num_clips,) + values.shape[1:])
    np.add.at(sums, clip_index, values)
    counts = np.bincount(clip_index, minlength=num_clips).astype(np.float64)
    if np.any(counts == 0):
        raise ValueError("a clip has no segment")
    return sums / counts.reshape((-1,) + (1,) * (values.ndim - 1))


def make_classifier_head(num_classes: int, dim: int) -> keras.Model:
    inp = keras.Input((dim,))
    return keras.Model(inp, keras.layers.Dense(num_classes, name="linear")(inp), name="classifier")
