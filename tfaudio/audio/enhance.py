"""A classical single-channel speech enhancer: Wiener filter with decision-directed
a-priori SNR estimation.

Used to make the "enhanced" condition of a Quality-Net training set (the paper used
a BLSTM enhancer; any enhancer that leaves typical processing artefacts - musical
noise, residual noise, speech attenuation - serves the same purpose: speech whose
quality is neither "clean" nor plainly "noisy").

Algorithm (textbook, written from the equations):

* STFT with a periodic Hann window (32 ms frames, 75 % overlap), inverse by
  weighted overlap-add (``scipy.signal.istft``), so with unit gain the output equals
  the input.
* Noise power spectrum: the periodogram is smoothed recursively over time, then
  for each frequency bin the minimum over a sliding window of two seconds is
  taken and multiplied by a bias factor (a simplified "minimum statistics" tracker;
  non-causal, which is fine offline). It follows slowly varying noise and needs no
  speech-free lead-in.
* A-posteriori SNR ``gamma = |Y|^2 / N``; a-priori SNR by the decision-directed rule
  ``xi(l) = a * |S(l-1)|^2 / N(l) + (1 - a) * max(gamma(l) - 1, 0)`` with ``a = 0.98``
  and a floor ``xi_min``.
* Wiener gain ``G = xi / (1 + xi)``, floored at ``gain_floor_db``.
"""
from __future__ import annotations

import numpy as np
from scipy import signal as sps
from scipy.ndimage import minimum_filter1d

#: Bump when the algorithm or its defaults change: quality sets key their cached
#: "enhanced" items on it so a changed enhancer recomputes them.
ENHANCER_VERSION = "wiener-dd-2"


def estimate_noise_psd(
    power: np.ndarray,
    frame_rate: float,
    window_seconds: float = 1.0,
    smoothing: float = 0.85,
    bias: float = 1.8,
) -> np.ndarray:
    """Noise power per (bin, frame) from a power spectrogram ``[bins, frames]``.

    Recursive smoothing over time (``smoothing`` is the weight of the past), then a
    sliding minimum over ``window_seconds`` per bin, times ``bias`` (the minimum of a
    smoothed periodogram underestimates the mean noise power).
    """
    smoothed = np.empty_like(power)
    acc = power[:, 0].copy()
    for t in range(power.shape[1]):
        acc = smoothing * acc + (1.0 - smoothing) * power[:, t]
        smoothed[:, t] = acc
    # The first frames are biased towards the first frame; re-use the backward pass
    # so the start of the utterance gets a sensible estimate too.
    acc = power[:, -1].copy()
    back = np.empty_like(power)
    for t in range(power.shape[1] - 1, -1, -1):
        acc = smoothing * acc + (1.0 - smoothing) * power[:, t]
        back[:, t] = acc
    smoothed = 0.5 * (smoothed + back)
    width = max(3, int(round(window_seconds * frame_rate)))
    width = min(width, power.shape[1]) if power.shape[1] >= 3 else power.shape[1]
    floor = minimum_filter1d(smoothed, size=max(1, width), axis=1, mode="nearest")
    return np.maximum(bias * floor, 1e-12)


def wiener_enhance(
    noisy: np.ndarray,
    sample_rate: int = 16000,
    frame_seconds: float = 0.032,
    overlap: float = 0.75,
    alpha: float = 0.98,
    xi_min_db: float = -25.0,
    gain_floor_db: float = -20.0,
    noise_window_seconds: float = 2.0,
) -> np.ndarray:
    """Enhance a mono float signal; returns float32 of the same length.

    Wiener filter with decision-directed a-priori SNR (see module docstring).
    ``alpha`` is the decision-directed smoothing weight, ``xi_min_db`` the a-priori
    SNR floor and ``gain_floor_db`` the minimum spectral gain (limits musical noise
    and speech distortion).
    """
    x = np.asarray(noisy, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"wiener_enhance expects a 1-D signal, got shape {x.shape}")
    n = x.shape[0]
    n_fft = int(2 ** np.round(np.log2(frame_seconds * sample_rate)))
    hop = max(1, int(round(n_fft * (1.0 - overlap))))
    if n < n_fft:
        return x.astype(np.float32)
    _, _, spec = sps.stft(
        x, fs=sample_rate, window="hann", nperseg=n_fft, noverlap=n_fft - hop,
        boundary="even", padded=True,
    )
    power = np.abs(spec) ** 2
    noise = estimate_noise_psd(power, frame_rate=sample_rate / hop,
                               window_seconds=noise_window_seconds)
    gamma = power / noise
    xi_min = 10.0 ** (xi_min_db / 10.0)
    g_min = 10.0 ** (gain_floor_db / 20.0)
    gains = np.empty_like(power)
    prev_clean_power = None
    for t in range(power.shape[1]):
        ml = np.maximum(gamma[:, t] - 1.0, 0.0)
        if prev_clean_power is None:
            xi = np.maximum(ml, xi_min)
        else:
            xi = alpha * prev_clean_power / noise[:, t] + (1.0 - alpha) * ml
            xi = np.maximum(xi, xi_min)
        g = np.maximum(xi / (1.0 + xi), g_min)
        gains[:, t] = g
        prev_clean_power = (g ** 2) * power[:, t]
    _, y = sps.istft(
        gains * spec, fs=sample_rate, window="hann", nperseg=n_fft,
        noverlap=n_fft - hop, boundary=True,
    )
    if y.shape[0] < n:
        y = np.pad(y, (0, n - y.shape[0]))
    return y[:n].astype(np.float32)


def enhance(noisy: np.ndarray, sample_rate: int = 16000, method: str = "wiener") -> np.ndarray:
    """Dispatch by name; only ``"wiener"`` (decision-directed Wiener filter) exists."""
    if method != "wiener":
        raise ValueError(f"unknown enhancement method {method!r}; available: 'wiener'")
    return wiener_enhance(noisy, sample_rate=sample_rate)
