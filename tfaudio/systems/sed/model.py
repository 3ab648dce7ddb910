"""SED networks (forward passes only): CRNN feature extractor F, heads F1 / F2 / Ft,
domain classifier D behind a gradient reversal layer, and the waveform-in detector.

* F: per-band normalisation (training statistics, stored as non-trainable weights),
  CNN blocks (3x3 conv -> batch norm -> GLU -> (time, freq) max pooling -> dropout),
  then bidirectional GRU layers -> ``[batch, frames', 2 * gru_units]``.
* A head: a first dense layer (ReLU; eq. (8) compares F1's and F2's), frame logits
  and attention logits per class; frame probabilities are sigmoids, the clip
  probability is their attention-weighted mean over time (softmax over frames).
* D: gradient reversal, then a small MLP giving one real-vs-synthetic logit per
  frame (``time``) or per clip (``whole``, mean over time first).

Block sizes (the paper gives only "seven CNN blocks and two Bi-GRU" after the DCASE
2018 winner's CRNN): the DCASE task 4 baseline's seven blocks, filters 16, 32, 64,
128, 128, 128, 128 with 3x3 kernels, GLU and (time, freq) pooling (2,2), (2,2), then
(1,2) five times, so 128 mel bands pool to 1 and 640 frames to 160 (62.6 ms per
output frame, fine enough for the 200 ms collar); BiGRU 2 x 128. The embedded recipe
keeps the shape but shrinks it (3 blocks of 16, 32, 32 filters, 32 GRU units) so it
trains in minutes on two CPU cores.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfaudio.features import FeatureFrontend
from tfaudio.layers import GradientReversal
from tfaudio.systems.sed.config import SEDFrontendConfig, SEDModelConfig


def make_frontend(cfg: SEDFrontendConfig) -> FeatureFrontend:
    """Log-mel power spectrogram (natural log), no per-example normalisation."""
    return FeatureFrontend(sample_rate=cfg.sample_rate, frame_length=cfg.frame_length,
                           frame_step=cfg.frame_step, window=cfg.window, center=cfg.center, power=2.0,
                           num_mel_bins=cfg.num_mel_bins, fmin=cfg.fmin, fmax=cfg.fmax, log="natural",
                           log_floor=cfg.log_floor, normalization=None, name="frontend")


def log_mel(frontend: FeatureFrontend, waveform, gain: float):
    """Features of a waveform batch; the gain keeps |STFT|^2 inside float16's range."""
    return frontend(waveform * gain)


def time_pool(cfg: SEDModelConfig) -> int:
    return int(np.prod([p[0] for p in cfg.pools]))


def output_frames(num_frames: int, cfg: SEDModelConfig) -> int:
    for p in cfg.pools:
        num_frames //= p[0]
    return num_frames


class BandNorm(keras.layers.Layer):
    """``(x - mean) / std`` per feature band with statistics set from training data."""

    def build(self, input_shape):
        n = int(input_shape[-1])
        self.mean = self.add_weight(name="mean", shape=(n,), initializer="zeros", trainable=False)
        self.std = self.add_weight(name="std", shape=(n,), initializer="ones", trainable=False)
        super().build(input_shape)

    def call(self, x):
        return (x - self.mean) / self.std


class FeatureExtractor(keras.Model):
    """F: ``[batch, frames, mels]`` -> ``[batch, frames', 2 * gru_units]``."""

    def __init__(self, cfg: SEDModelConfig, **kwargs):
        super().__init__(**kwargs)
        if len(cfg.filters) != len(cfg.pools):
            raise ValueError(f"model.filters ({len(cfg.filters)}) and model.pools ({len(cfg.pools)}) "
                             f"must have one entry per CNN block")
        self.norm = BandNorm(name="band_norm")
        self.convs = [keras.layers.Conv2D(2 * f, 3, padding="same", name=f"conv{i}") for i, f in enumerate(cfg.filters)]
        self.bns = [keras.layers.BatchNormalization(name=f"bn{i}", synchronized=True) for i in range(len(cfg.filters))]
        self.pools = [keras.layers.MaxPooling2D(tuple(p), name=f"pool{i}") for i, p in enumerate(cfg.pools)]
        self.drops = [keras.layers.Dropout(cfg.dropout) for _ in cfg.filters]
        self.grus = [
            keras.layers.Bidirectional(keras.layers.GRU(cfg.gru_units, return_sequences=True), name=f"bigru{i}")
            for i in range(cfg.gru_layers)
        ]

    def call(self, features, training=False):
        x = self.norm(features)[..., None]
        for conv, bn, pool, drop in zip(self.convs, self.bns, self.pools, self.drops):
            a, b = tf.split(bn(conv(x), training=training), 2, axis=-1)
            x = drop(pool(a * tf.sigmoid(b)), training=training)
        t, f, c = x.shape[1], x.shape[2], x.shape[3]
        x = tf.reshape(x, [-1, t if t is not None else tf.shape(x)[1], f * c])
        for gru in self.grus:
            x = gru(x, training=training)
        return x


class Head(keras.Model):
    """A labeler / the final classifier: frame and clip probabilities."""

    def __init__(self, cfg: SEDModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(cfg.head_units, activation="relu", name="first")
        self.frame = keras.layers.Dense(cfg.num_classes, name="frame")
        self.attention = keras.layers.Dense(cfg.num_classes, name="attention")

    def call(self, h, training=False):
        z = self.first(h)
        frame = tf.sigmoid(self.frame(z))
        weights = tf.nn.softmax(self.attention(z), axis=1)
        clip = tf.reduce_sum(frame * weights, axis=1)
        return {"frame": frame, "clip": clip}


class DomainClassifier(keras.Model):
    """D behind gradient reversal: real-vs-synthetic logits ``[batch, frames']`` (time)
    or ``[batch]`` (whole)."""

    def __init__(self, cfg: SEDModelConfig, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("time", "whole"):
            raise ValueError(f"adversarial mode must be 'time' or 'whole', not {mode!r}")
        self.mode = mode
        self.grl = GradientReversal(cfg.grl_alpha, name="grl")
        self.hidden = keras.layers.Dense(cfg.domain_units, activation="relu", name="hidden")
        self.out = keras.layers.Dense(1, name="logit")

    def call(self, h, training=False):
        x = self.grl(h)
        if self.mode == "whole":
            x = tf.reduce_mean(x, axis=1)
        return self.out(self.hidden(x))[..., 0]


def diversity(first_a: keras.layers.Dense, first_b: keras.layers.Dense) -> tf.Tensor:
    """Eq. (8): ``|<W1/|W1|, W2/|W2|>|`` of the two labelers' first-layer weights
    (flattened), 0 for orthogonal weights, 1 for parallel ones."""
    a = tf.reshape(first_a.kernel, [-1])
    b = tf.reshape(first_b.kernel, [-1])
    return tf.abs(tf.reduce_sum(tf.math.l2_normalize(a) * tf.math.l2_normalize(b)))


class Detector(keras.Model):
    """F + Ft: features -> ``{"frame": [B, T', K], "clip": [B, K]}``."""

    def __init__(self, extractor: FeatureExtractor, head: Head, **kwargs):
        super().__init__(**kwargs)
        self.extractor = extractor
        self.head = head

    def call(self, features, training=False):
        return self.head(self.extractor(features, training=training), training=training)


def build_parts(cfg: SEDModelConfig, frames: int, mels: int, heads: Sequence[str] = ("t",),
                adversarial: str = "none") -> Dict[str, keras.Model]:
    """Built F, the named heads (``F1``, ``F2``, ``Ft``) and D (if adversarial)."""
    parts: Dict[str, keras.Model] = {"F": FeatureExtractor(cfg, name="F")}
    h = parts["F"](tf.zeros([1, frames, mels]))
    for name in heads:
        head = Head(cfg, name=f"F{name}")
        head(h)
        parts[f"F{name}"] = head
    if adversarial != "none":
        parts["D"] = DomainClassifier(cfg, adversarial, name="D")
        parts["D"](h)
    return parts


def set_band_stats(extractor: FeatureExtractor, mean: np.ndarray, std: np.ndarray) -> None:
    extractor.norm.mean.assign(np.asarray(mean, np.float32))
    extractor.norm.std.assign(np.maximum(np.asarray(std, np.float32), 1e-3))


def forward_waveform(frontend, detector: Detector, waveform, gain: float) -> Tuple[tf.Tensor, tf.Tensor]:
    out = detector(log_mel(frontend, waveform, gain), training=False)
    return out["frame"], out["clip"]
