"""SED plots: a clip's frame probabilities with its reference and detected events
(``tfaudio-eval sed`` and ``tfaudio-detect --plot``)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from tfaudio.evaluation.plots import save_figure
from tfaudio.systems.sed import postprocess as P


def plot_clip(path: Path, probs: np.ndarray, reference: Sequence[P.Event], detected: Sequence[P.Event],
              classes: Sequence[str], hop: float, title: str) -> Path:
    """Frame probabilities (one line per class), reference events and detections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = len(classes)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 2.5 + 0.3 * K), sharex=True,
                                   gridspec_kw={"height_ratios": [2, 1.2]})
    t = (np.arange(len(probs)) + 0.5) * hop
    shown = 0
    for k, c in enumerate(classes):
        if probs[:, k].max() > 0.2 or any(e[2] == c for e in reference):
            ax1.plot(t, probs[:, k], label=c)
            shown += 1
    ax1.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax1.set_ylabel("probability")
    ax1.set_ylim(0, 1)
    if shown:
        ax1.legend(fontsize=7, ncol=3, loc="upper right")
    idx = {c: i for i, c in enumerate(classes)}
    for on, off, lab in reference:
        ax2.broken_barh([(on, off - on)], (idx[lab] - 0.4, 0.35), color="tab:green")
    for on, off, lab in detected:
        ax2.broken_barh([(on, off - on)], (idx[lab] + 0.05, 0.35), color="tab:red")
    ax2.set_yticks(range(K))
    ax2.set_yticklabels(classes, fontsize=7)
    ax2.set_xlabel("time (s)   green: reference, red: detected")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=100)
