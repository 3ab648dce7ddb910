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
