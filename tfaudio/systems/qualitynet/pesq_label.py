"""PESQ labels (ITU-T P.862 through the ``pesq`` package) for quality sets: wide
band at 16 kHz, narrow band at 8 kHz; every failure is an explicit reason, never NaN."""
from __future__ import annotations

import math

import numpy as np
from pesq import BufferTooShortError, NoUtterancesError
from pesq import pesq as _pesq

from tfaudio.errors import TfaudioError

#: Peak below which a signal counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4


class QualitySetError(TfaudioError, ValueError):
    """Bad input to :func:`make_quality_set` (missing folder, no audio, bad option)."""


class PesqLabelError(ValueError):
    """PESQ could not score a pair; ``reason`` says why (silent, too short, ...)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def resolve_band(band: str, sample_rate: int) -> str:
    """``"auto"`` -> ``"wb"`` at 16 kHz, ``"nb"`` at 8 kHz; validates the pair."""
    if sample_rate not in (8000, 16000):
        raise QualitySetError(f"PESQ works at 8000 or 16000 Hz, not {sample_rate} Hz")
    if band == "auto":
        return "wb" if sample_rate == 16000 else "nb"
    if band not in ("wb", "nb"):
        raise QualitySetError(f"band must be 'auto', 'wb' or 'nb', not {band!r}")
    if band == "wb" and sample_rate != 16000:
        raise QualitySetError("wide-band PESQ needs 16000 Hz audio")
    return band


def _msg(exc: Exception) -> str:
    a = exc.args[0] if exc.args else str(exc)
    return a.decode(errors="replace") if isinstance(a, bytes) else str(a)


def pesq_label(ref: np.ndarray, deg: np.ndarray, sample_rate: int = 16000,
               band: str = "auto") -> float:
    """PESQ (MOS-LQO) of ``deg`` against ``ref`` via the ``pesq`` package.

    ``pesq(fs, ref, deg, "wb")`` at 16 kHz, ``"nb"`` at 8 kHz (``band="auto"``).
    Raises :class:`PesqLabelError` (never returns NaN) for silent signals, signals
    shorter than PESQ accepts, no detected utterances or any other PESQ failure.
    """
    mode = resolve_band(band, sample_rate)
    ref = np.asarray(ref, dtype=np.float32)
    deg = np.asarray(deg, dtype=np.float32)
    n = min(ref.shape[0], deg.shape[0])
    ref, deg = ref[:n], deg[:n]
    if n < 0.25 * sample_rate:
        raise PesqLabelError(f"too short for PESQ ({n / sample_rate:.2f} s < 0.25 s)")
    if not np.any(ref) or float(np.max(np.abs(ref))) < SILENCE_PEAK:
        raise PesqLabelError("reference is silent")
    if not np.any(deg):
        raise PesqLabelError("degraded signal is all zeros")
    try:
        score = _pesq(sample_rate, ref, deg, mode)
    except NoUtterancesError as exc:
        raise PesqLabelError(f"PESQ detected no utterances ({_msg(exc)})") from exc
    except BufferTooShortError as exc:
        raise PesqLabelError(f"too short for PESQ ({_msg(exc)})") from exc
    except Exception as exc:  # PesqError and anything else from the C code
        raise PesqLabelError(f"PESQ failed: {type(exc).__name__}: {_msg(exc)}") from exc
    score = float(score)
    if not math.isfinite(score):
        raise PesqLabelError(f"PESQ returned a non-finite score ({score})")
    return score
