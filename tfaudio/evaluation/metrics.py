"""Metric helpers shared by every system (library-backed where a library exists)."""
from __future__ import annotations

from typing import Dict

import numpy as np
from scipy import stats


def accuracy(scores_or_pred, labels) -> float:
    """Top-1 accuracy; ``scores_or_pred`` is ``[n, classes]`` scores or ``[n]`` class ids.
    NaN for an empty set."""
    labels = np.asarray(labels).ravel()
    pred = np.asarray(scores_or_pred)
    if pred.ndim == 2:
        pred = np.argmax(pred, axis=-1)
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(pred.ravel() == labels))


def regression_metrics(true, pred) -> Dict[str, float]:
    """``{"n", "mse", "lcc", "srcc"}``; LCC / SRCC are NaN with < 2 items or a constant side."""
    true = np.asarray(true, np.float64).ravel()
    pred = np.asarray(pred, np.float64).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"true and pred differ in size: {true.shape} vs {pred.shape}")
    if not np.all(np.isfinite(pred)):
        raise ValueError(f"{int((~np.isfinite(pred)).sum())} prediction(s) are not finite")
    n = int(true.size)
    mse = float(np.mean((true - pred) ** 2)) if n else float("nan")
    lcc = srcc = float("nan")
    if n >= 2 and np.ptp(true) > 0 and np.ptp(pred) > 0:
        lcc = float(stats.pearsonr(true, pred)[0])
        srcc = float(stats.spearmanr(true, pred)[0])
    return {"n": n, "mse": mse, "lcc": lcc, "srcc": srcc}


def paired_bootstrap_lcc_difference(true, pred_a, pred_b, resamples: int = 2000,
                                    confidence: float = 0.95, seed: int = 0) -> Dict[str, float]:
    """LCC(true, a) - LCC(true, b) and its paired-bootstrap percentile interval
    (``scipy.stats.bootstrap``, items resampled with their true score and both
    predictions). ``{"diff", "low", "high", "n"}``; NaN when fewer than 3 items or
    a side is constant (the interval alone when resamples come out constant)."""
    true = np.asarray(true, np.float64).ravel()
    a = np.asarray(pred_a, np.float64).ravel()
    b = np.asarray(pred_b, np.float64).ravel()
    n = int(true.size)
    nan = {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "n": n}
    if n < 3 or np.ptp(true) == 0 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return nan

    def corr(t, p, axis=-1):
        t = t - t.mean(axis=axis, keepdims=True)
        p = p - p.mean(axis=axis, keepdims=True)
        den = np.sqrt((t * t).sum(axis=axis) * (p * p).sum(axis=axis))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (t * p).sum(axis=axis) / den

    def diff(t, x, y, axis=-1):
        return corr(t, x, axis) - corr(t, y, axis)

    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", stats.DegenerateDataWarning)
        res = stats.bootstrap((true, a, b), diff, paired=True, vectorized=True,
                              n_resamples=int(resamples), confidence_level=confidence,
                              method="percentile", random_state=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if any(issubclass(w.category, stats.DegenerateDataWarning) for w in caught):
        low = high = float("nan")  # resamples with a constant side: no interval
    for w in caught:
        if not issubclass(w.category, stats.DegenerateDataWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return {"diff": float(diff(true, a, b)), "low": low, "high": high, "n": n}
