"""Quality-Net figures an inference tool also draws: a waveform's spectrogram with
its frame scores below it on the same frame axis (the paper's Figs. 2-3;
``tfaudio-eval qualitynet`` and ``tfaudio-score --plot``)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from tfaudio.evaluation.plots import save_figure


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def display_spectrogram(wave: np.ndarray, frame_length: int = 512, frame_step: int = 256,
                        center: bool = True) -> np.ndarray:
    """dB magnitude ``[bins, frames]`` with the model's framing (centred, zero padded)."""
    import librosa

    spec = np.abs(librosa.stft(np.asarray(wave, np.float32), n_fft=frame_length,
                               hop_length=frame_step, window="hamming", center=center,
                               pad_mode="constant"))
    return 20 * np.log10(np.maximum(spec, 1e-6 * max(spec.max(), 1e-12)))


def frame_plot(path, items: Sequence[Tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
               sample_rate: int = 16000, frame_length: int = 512, frame_step: int = 256,
               title: str = "", shade: Optional[Tuple[int, int]] = None) -> Path:
    """For each ``(label, waveform, {curve label: frame scores})``: the spectrogram with
    the frame scores in a panel below it on the same frame axis (Figs. 2-3).

    ``shade`` = (first, last) frame of a region to mark (the noisy part in Fig. 3).
    """
    plt = pyplot()
    n = len(items)
    fig, axes = plt.subplots(2 * n, 1, figsize=(8, 3.1 * n + 0.5), sharex=True,
                             gridspec_kw={"height_ratios": [1.4, 1] * n})
    axes = np.atleast_1d(axes)
    all_scores = [q for _, _, curves in items for q in curves.values() if len(q)]
    lo = min(float(np.min(q)) for q in all_scores) - 0.2 if all_scores else 0
    hi = max(float(np.max(q)) for q in all_scores) + 0.2 if all_scores else 5
    for k, (label, wave, curves) in enumerate(items):
        ax_s, ax_q = axes[2 * k], axes[2 * k + 1]
        spec = display_spectrogram(wave, frame_length, frame_step)
        ax_s.imshow(spec, origin="lower", aspect="auto", cmap="magma",
                    extent=[-0.5, spec.shape[1] - 0.5, 0, sample_rate / 2000])
        ax_s.set_ylabel("kHz")
        ax_s.set_title(label, fontsize=9, loc="left")
        for name, q in curves.items():
            q = np.asarray(q)
            ax_q.plot(np.arange(len(q)), q, lw=1.3,
                      label=f"{name} (Q={q.mean():.2f}, var={q.var():.3f})")
        ax_q.set_ylim(lo, hi)
        ax_q.set_ylabel("frame score")
        ax_q.grid(alpha=0.3)
        ax_q.legend(fontsize=7, loc="lower left")
        if shade is not None:
            for ax in (ax_s, ax_q):
                ax.axvspan(shade[0] - 0.5, shade[1] + 0.5, fill=False, ls="--", ec="w" if ax is ax_s else "k")
    axes[-1].set_xlabel(f"frame ({1000 * frame_step / sample_rate:g} ms hop)")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110)
