"""Simple reference models that every evaluation table can carry as a baseline row.

:class:`MelStatsLogReg` — multinomial logistic regression (scikit-learn) on per-clip
statistics of the very features a network sees: the mean and the standard deviation
over time of every feature band (for ``[frames, mels]`` log-mel features, 2 x mels
numbers per clip), standardised with the training split's statistics. It shows how
much of a table's accuracy needs no network at all.
"""
from __future__ import annotations

import numpy as np

BASELINE_NAME = "LogReg (mel stats)"


def band_statistics(features) -> np.ndarray:
    """``[N, frames, bands]`` -> ``[N, 2 * bands]``: per-band mean, then per-band std over time.
    A list of ``[frames_i, bands]`` arrays (clips of different lengths) works too."""
    if isinstance(features, (list, tuple)):
        return np.stack([band_statistics(np.asarray(f)[None])[0] for f in features])
    features = np.asarray(features, np.float64)
    if features.ndim != 3:
        raise ValueError(f"expected features [clips, frames, bands], got shape {features.shape}")
    return np.concatenate([features.mean(axis=1), features.std(axis=1)], axis=1)


class MelStatsLogReg:
    """Logistic regression on :func:`band_statistics`; fit on training features only."""

    name = BASELINE_NAME

    def __init__(self, c: float = 1.0, max_iter: int = 2000, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(),
                                   LogisticRegression(C=c, max_iter=max_iter, random_state=seed))

    def fit(self, features, labels: np.ndarray) -> "MelStatsLogReg":
        labels = np.asarray(labels).ravel()
        if len(np.unique(labels)) < 2:
            raise ValueError("the baseline needs training clips of at least two classes")
        self.model.fit(band_statistics(features), labels)
        return self

    def predict(self, features) -> np.ndarray:
        """Class ids (the labels given to :meth:`fit`) of ``[N, frames, bands]`` features."""
        return self.model.predict(band_statistics(features))
