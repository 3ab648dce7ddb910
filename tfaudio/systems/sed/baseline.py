"""A non-neural reference for SED: frame-level logistic regression on the log-mel features.

The CRNN's input features (log-mel, ``[frames, mels]`` per clip) are mean-pooled over
the model's time pooling, so each row is one output frame of the CRNN (same hop, same
frame grid), and standardised per band (mean / std of the training rows). One
binary logistic regression per class is trained on

* the strongly labelled frames of the synthetic training clips (``S``), and
* the frames of the weakly labelled training clips (``W``), each frame given its
  clip's labels,

at most ``max_frames`` rows drawn at random (seeded) from all of them, so the fit
stays fast. Its frame probabilities go through the same threshold, median filter
and scorers (sed_eval, PSDS) as the CRNN's (:func:`tfaudio.systems.sed.evaluate.score_part`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from tfaudio.systems.sed.data import Part

MAX_FRAMES = 20000
NAME = "Logistic regression (frames)"


def pooled_frames(features: np.ndarray, pool: int, out_frames: int) -> np.ndarray:
    """``[N, frames, mels]`` -> ``[N, out_frames, mels]``: the mean over each output
    frame's ``pool`` input frames (the CRNN's frame grid)."""
    x = np.asarray(features, np.float32)[:, : out_frames * pool]
    return x.reshape(len(x), out_frames, pool, x.shape[-1]).mean(2)


@dataclass
class FrameLogReg:
    """Standardisation + one logistic regression per class (or a constant for a class
    whose training rows are all one value)."""

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray  # [mels, K]
    bias: np.ndarray  # [K]
    pool: int
    out_frames: int
    n_frames: int  # training rows used
    n_available: int  # training rows there were

    def predict(self, part: Part) -> np.ndarray:
        """Frame probabilities ``[N, out_frames, K]`` of a part."""
        x = (pooled_frames(part.arrays["features"], self.pool, self.out_frames) - self.mean) / self.std
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))


def training_rows(parts: Sequence[Part], pool: int, out_frames: int):
    """``(x [R, mels], y [R, K])``: strong frames of clips with frame labels, and the
    frames of weakly labelled clips with their clip labels broadcast."""
    xs: List[np.ndarray] = []
    ys: List[np.ndarray] = []
    for p in parts:
        if not len(p):
            continue
        a = p.arrays
        x = pooled_frames(a["features"], pool, out_frames)
        strong = a["frame_mask"].reshape(len(p), -1).min(1) > 0
        weak = ~strong & (a["clip_mask"].min(1) > 0)
        if strong.any():
            xs.append(x[strong].reshape(-1, x.shape[-1]))
            ys.append(a["frame_target"][strong][:, :out_frames].reshape(-1, a["frame_target"].shape[-1]))
        if weak.any():
            xs.append(x[weak].reshape(-1, x.shape[-1]))
            ys.append(np.repeat(a["clip_target"][weak], out_frames, axis=0))
    if not xs:
        raise ValueError("no labelled training clips for the logistic-regression baseline")
    return np.concatenate(xs), np.concatenate(ys)


def fit(parts: Sequence[Part], pool: int, out_frames: int, max_frames: int = MAX_FRAMES,
        seed: int = 0, C: float = 1.0) -> FrameLogReg:
    """Fit on at most ``max_frames`` rows of ``parts`` (see :func:`training_rows`)."""
    from sklearn.linear_model import LogisticRegression

    x, y = training_rows(parts, pool, out_frames)
    n_available = len(x)
    if n_available > max_frames:
        keep = np.sort(np.random.default_rng(seed).choice(n_available, max_frames, replace=False))
        x, y = x[keep], y[keep]
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    z = (x - mean) / std
    K = y.shape[1]
    weights = np.zeros((x.shape[1], K), np.float64)
    bias = np.zeros(K, np.float64)
    for k in range(K):
        yk = y[:, k] > 0.5
        if yk.all() or not yk.any():  # one value only: a constant probability, clipped
            p = np.clip(yk.mean(), 1e-4, 1 - 1e-4)
            bias[k] = np.log(p / (1 - p))
            continue
        # standardised rows and an L2 penalty: lbfgs converges well inside max_iter
        clf = LogisticRegression(C=C, max_iter=2000, tol=1e-4)
        clf.fit(z, yk)
        weights[:, k] = clf.coef_[0]
        bias[k] = clf.intercept_[0]
    return FrameLogReg(mean.astype(np.float32), std.astype(np.float32), weights.astype(np.float32),
                       bias.astype(np.float32), pool, out_frames, len(x), n_available)
