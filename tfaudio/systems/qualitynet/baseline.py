"""A simple reference for every Quality-Net table: ridge regression on spectral statistics.

A network trained on a few hundred utterances should be compared with something
that cannot overfit much.  :class:`RidgeBaseline` summarises each decoded 16 kHz
waveform by a fixed vector of per-utterance statistics (:func:`spectral_features`)
and fits ``sklearn.linear_model.Ridge`` on the standardised features of the run's
training set; the ridge strength ``alpha`` is chosen on the run's dev set by the
run's own monitor (dev LCC by default, as the network's best epoch is), then the
model fitted on the training set alone with that ``alpha`` is kept.  The network
and the baseline therefore see the same training / dev / test split.

Features (STFT 512 / 256, Hann, at 16 kHz; powers in dB):

* level: RMS and peak in dBFS, crest factor;
* frame energy: percentiles 5 / 50 / 95, their spread (95 - 5, a crude SNR) and the
  standard deviation, on the signal scaled to unit RMS;
* per band group (0-250-500 Hz, 0.5-1-2-3-4-6-8 kHz): mean, standard deviation and
  percentiles 10 / 90 of the band's log-power over frames, and the difference
  between the band's level in the loudest and in the quietest 20 % of the frames
  (a per-band SNR estimate);
* spectral flatness (mean, std, and its mean on the quietest 20 % of the frames),
  spectral centroid (mean, std) and the median 95 % roll-off frequency (bandwidth).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import numpy as np
from scipy import signal

from tfaudio.evaluation.metrics import regression_metrics

__all__ = [
    "BASELINE_NAME",
    "BAND_EDGES_HZ",
    "ALPHAS",
    "spectral_features",
    "feature_names",
    "feature_matrix",
    "RidgeBaseline",
    "fit_ridge_baseline",
    "fit_run_baseline",
]

#: Row label of the baseline in every table.
BASELINE_NAME = "baseline: ridge on spectral statistics"
#: Band-group edges (Hz) of the per-band statistics.
BAND_EDGES_HZ = (0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000)
#: Ridge strengths tried on the dev set.
ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))

_FRAME, _STEP = 512, 256
_EPS = 1e-12
_QUIET = 0.2  # fraction of frames taken as the quietest / loudest


def feature_names() -> List[str]:
    """Names of the columns of :func:`spectral_features`, in order."""
    names = ["rms_dbfs", "peak_dbfs", "crest_db"]
    names += [f"frame_db_p{p}" for p in (5, 50, 95)] + ["frame_db_spread", "frame_db_std"]
    for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:]):
        b = f"band_{lo}_{hi}"
        names += [f"{b}_mean", f"{b}_std", f"{b}_p10", f"{b}_p90", f"{b}_loud_minus_quiet"]
    names += ["flatness_mean", "flatness_std", "flatness_quiet", "centroid_mean_hz",
              "centroid_std_hz", "rolloff95_median_hz"]
    return names


def spectral_features(wave: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """The per-utterance statistics listed in the module docstring (float64 vector)."""
    x = np.asarray(wave, np.float64).ravel()
    if x.size == 0:
        raise ValueError("cannot compute features of an empty waveform")
    if x.size < _FRAME:
        x = np.pad(x, (0, _FRAME - x.size))
    rms = float(np.sqrt(np.mean(x ** 2)))
    peak = float(np.max(np.abs(x)))
    level = [20 * np.log10(rms + _EPS), 20 * np.log10(peak + _EPS),
             20 * np.log10((peak + _EPS) / (rms + _EPS))]
    y = x / max(rms, _EPS)
    freqs, _, spec = signal.stft(y, fs=sample_rate, window="hann", nperseg=_FRAME,
                                 noverlap=_FRAME - _STEP, boundary=None, padded=False)
    power = np.abs(spec) ** 2 + _EPS  # [bins, frames]
    frame_db = 10 * np.log10(power.sum(axis=0))
    p5, p50, p95 = np.percentile(frame_db, [5, 50, 95])
    feats = level + [p5, p50, p95, p95 - p5, float(np.std(frame_db))]
    order = np.argsort(frame_db, kind="stable")
    k = max(1, int(round(_QUIET * len(order))))
    quiet, loud = order[:k], order[-k:]
    for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:]):
        sel = (freqs >= lo) & (freqs < hi) if hi < BAND_EDGES_HZ[-1] else (freqs >= lo)
        band = power[sel].sum(axis=0)
        band_db = 10 * np.log10(band)
        b10, b90 = np.percentile(band_db, [10, 90])
        loud_minus_quiet = 10 * np.log10(band[loud].mean() / band[quiet].mean())
        feats += [float(band_db.mean()), float(band_db.std()), b10, b90, loud_minus_quiet]
    flat = np.exp(np.mean(np.log(power), axis=0)) / np.mean(power, axis=0)
    total = power.sum(axis=0)
    centroid = (freqs[:, None] * power).sum(axis=0) / total
    cum = np.cumsum(power, axis=0) / total
    rolloff = freqs[np.argmax(cum >= 0.95, axis=0)]
    feats += [float(flat.mean()), float(flat.std()), float(flat[quiet].mean()),
              float(centroid.mean()), float(centroid.std()), float(np.median(rolloff))]
    return np.asarray(feats, np.float64)


def feature_matrix(waves: Sequence[np.ndarray], sample_rate: int = 16000) -> np.ndarray:
    """``[n, features]``: :func:`spectral_features` of each waveform."""
    return np.stack([spectral_features(w, sample_rate) for w in waves]) if len(waves) else \
        np.zeros((0, len(feature_names())))


@dataclasses.dataclass
class RidgeBaseline:
    """A fitted baseline: standardisation + ridge, with how ``alpha`` was chosen."""

    pipeline: object  # sklearn Pipeline(StandardScaler, Ridge)
    alpha: float
    select: str  # dev metric that chose alpha: "lcc", "srcc" or "mse"
    dev_metrics: Dict[float, Dict[str, float]]  # alpha -> dev n / mse / lcc / srcc
    n_train: int
    n_dev: int
    sample_rate: int = 16000

    name = BASELINE_NAME

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.pipeline.predict(features), np.float64)

    def predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of decoded waveforms (at ``sample_rate``)."""
        return self.predict_features(feature_matrix(waves, self.sample_rate))

    def describe(self) -> str:
        """One line for table notes."""
        dev = self.dev_metrics[self.alpha]
        return (f"{BASELINE_NAME}: {len(feature_names())} per-utterance statistics "
                f"(level, frame-energy percentiles, log-power per band group, flatness, "
                f"centroid, roll-off), standardised, sklearn Ridge fitted on the run's "
                f"{self.n_train} training utterances; alpha = {self.alpha:g} chosen by dev "
                f"{self.select.upper()} on {self.n_dev} dev utterances (dev MSE {dev['mse']:.4f}, "
                f"LCC {dev['lcc']:.4f}, SRCC {dev['srcc']:.4f}).")

    def to_dict(self) -> dict:
        return {"name": BASELINE_NAME, "alpha": self.alpha, "select": self.select,
                "n_train": self.n_train, "n_dev": self.n_dev,
                "dev_metrics": {f"{a:g}": m for a, m in self.dev_metrics.items()}}


def _score(metrics: Dict[str, float], select: str) -> float:
    """Larger is better; NaN (undefined LCC / SRCC) ranks last."""
    value = -metrics["mse"] if select == "mse" else metrics[select]
    return -np.inf if not np.isfinite(value) else float(value)


def fit_ridge_baseline(train_x: np.ndarray, train_y, dev_x: np.ndarray, dev_y,
                       alphas: Sequence[float] = ALPHAS, select: str = "lcc",
                       sample_rate: int = 16000) -> RidgeBaseline:
    """Fit standardisation + ridge on the training features for every ``alpha`` and
    keep the one with the best dev ``select`` metric (ties: the larger ``alpha``)."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if select not in ("lcc", "srcc", "mse"):
        raise ValueError(f"select must be lcc, srcc or mse, got {select!r}")
    train_y = np.asarray(train_y, np.float64)
    dev_y = np.asarray(dev_y, np.float64)
    if len(train_y) < 2 or len(dev_y) < 1:
        raise ValueError(f"the baseline needs >= 2 training and >= 1 dev utterances, got "
                         f"{len(train_y)} and {len(dev_y)}")
    fitted, dev_metrics = {}, {}
    for alpha in sorted(float(a) for a in alphas):
        pipe = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
        pipe.fit(train_x, train_y)
        fitted[alpha] = pipe
        dev_metrics[alpha] = regression_metrics(dev_y, pipe.predict(dev_x))
    best = max(sorted(fitted), key=lambda a: (_score(dev_metrics[a], select), a))
    return RidgeBaseline(fitted[best], best, select, dev_metrics, len(train_y), len(dev_y),
                         sample_rate)


def fit_run_baseline(cfg, progress: bool = True, data=None) -> RidgeBaseline:
    """The baseline of a run config: fitted on the run's training set, ``alpha`` chosen
    on its dev set (the embedded set, the manifests, or the held-out speakers, exactly
    as :func:`tfaudio.systems.qualitynet.data.load_train_dev` gives them to the network).

    ``data`` = (train, dev) :class:`~tfaudio.systems.qualitynet.data.QualitySet` s skips
    loading.  The selection metric follows ``cfg.train.monitor``.
    """
    from tfaudio.systems.qualitynet.data import load_train_dev

    if data is None:
        train_set, dev_set, _ = load_train_dev(cfg, progress)
    else:
        train_set, dev_set = data
    sr = cfg.model.sample_rate
    select = {"dev_lcc": "lcc", "dev_srcc": "srcc", "dev_mse": "mse"}[cfg.train.monitor]
    return fit_ridge_baseline(feature_matrix(train_set.waves, sr), train_set.scores,
                              feature_matrix(dev_set.waves, sr), dev_set.scores,
                              select=select, sample_rate=sr)

