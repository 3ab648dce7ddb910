"""Condition families: a manifest's free-text condition (with its noise, SNR, path and
source columns) read as one of clean / noise / enhanced / codec / ... so tables, the
scatter legend and the model card group utterances the same way."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd


#: Families shown at most (tables and the scatter legend); the rarest go to "other".
MAX_FAMILIES = 10
OTHER = "other"
UNKNOWN = "unknown"
_CLEAN_WORDS = ("clean", "reference", "original", "unprocessed")
_ENHANCED_WORDS = ("enhanc", "denois", "wiener", "mmse", "specsub", "spectral_sub",
                   "noise_reduc", "noisereduc")
_CODEC_WORDS = ("codec", "amr", "g711", "g.711", "g722", "g.722", "g726", "g.726", "g728",
                "g729", "g.729", "gsm", "opus", "silk", "speex", "evs", "mp3", "aac", "ilbc",
                "celp", "lpc", "vorbis", "kbps", "pcmu", "pcma", "alaw", "ulaw", "mulaw")
# Numbers with an optional unit (SNR, bit rate, ...) that are not part of a word.
_NUMBER = re.compile(r"(?<![a-z0-9])[-+]?\d+(?:[.,]\d+)?\s*(?:db|kbps|kbit|khz|hz|k\d*|ms)?(?![a-z])",
                     re.IGNORECASE)
_DB = re.compile(r"\d\s*db(?![a-z])", re.IGNORECASE)


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def condition_family(condition, noise="", snr=float("nan"), path="", source="") -> str:
    """The family of one manifest row (see :func:`condition_families`)."""
    c = _text(condition).lower()
    n = _text(noise).lower()
    tokens = [t for t in re.split(r"[^a-z0-9.]+", c) if t]
    if c in _CLEAN_WORDS or (tokens and tokens[0] in _CLEAN_WORDS):
        return "clean"
    if any(w in c for w in _ENHANCED_WORDS):
        return "enhanced"
    if any(t.startswith(w) for t in tokens for w in _CODEC_WORDS):
        return "codec"
    if n:
        return f"noisy: {n}"
    try:
        has_snr = np.isfinite(float(snr))
    except (TypeError, ValueError):
        has_snr = False
    if c in ("", UNKNOWN, "noisy", "noise"):
        if c in ("", UNKNOWN) and _text(path) and _text(path) == _text(source):
            return "clean"  # the file is its own clean source
        return "noisy" if (c.startswith("nois") or has_snr) else UNKNOWN
    stem = re.sub(r"[^a-z0-9]+", " ", _NUMBER.sub(" ", c)).strip().replace(" ", "_")
    stem = re.sub(r"^(noisy|noise)(_|$)", "", stem)
    if not stem:
        return "noisy" if (_DB.search(c) or has_snr) else UNKNOWN
    return f"noisy: {stem}" if (_DB.search(c) or has_snr) else stem


def family_order(family: str):
    """Sort key: all, clean, noise families, enhanced, codec, band limits, clipping,
    dropouts, reverberation, other named ones, zero-shot families, unknown, other."""
    rank = {"all": 0, "clean": 1, "noise": 2, "enhanced": 3, "codec": 4, "bandlimit": 5,
            "clipping": 6, "dropout": 7, "reverb": 8, UNKNOWN: 11, OTHER: 12}
    if family in rank:
        return (rank[family], family)
    if family.startswith("noisy"):
        return (2, family)
    if family.startswith("zero-shot"):
        return (10, family)
    return (9, family)


def condition_families(rows: pd.DataFrame, max_families: int = MAX_FAMILIES) -> np.ndarray:
    """Coarse condition families of a manifest frame, one per row (str array).

    A non-empty ``family`` column (written by the set builder's families plan) is
    used as it is. Otherwise per row, from the columns present (``condition``,
    ``noise``, ``snr``, ``path``, ``source``): *clean* (condition clean / reference / original, or a file that is
    its own source); *enhanced* (condition naming an enhancer: enhanced, denoised,
    Wiener, MMSE, ...); *codec* (condition naming a codec or bit rate: AMR, G.711,
    Opus, EVS, kbps, ...); *noisy: <noise>* for the ``noise`` column's type, or for a
    condition name that carries an SNR (``babble_5dB`` -> ``noisy: babble``); plain
    *noisy* when only an SNR is known; otherwise the condition name without its
    numbers (``reverb_0.3`` -> ``reverb``), or *unknown*.  With more than
    ``max_families`` families, the most frequent ``max_families - 1`` are kept and
    the rest become *other*.
    """
    n = len(rows)

    def col(name, default):
        return rows[name].tolist() if name in rows.columns else [default] * n

    fams = np.array([condition_family(*vals) for vals in zip(
        col("condition", ""), col("noise", ""), col("snr", float("nan")), col("path", ""),
        col("source", ""))], dtype=object)
    given = [_text(v) for v in col("family", "")]  # a manifest's own families win
    fams = np.array([g if g else f for g, f in zip(given, fams)], dtype=object)
    return cap_groups(fams.astype(str), max_families)


def cap_groups(groups, max_groups: int = MAX_FAMILIES) -> np.ndarray:
    """``groups`` with all but the ``max_groups - 1`` most frequent merged into "other"
    when there are more than ``max_groups`` distinct values."""
    groups = np.asarray(groups).astype(str)
    counts = pd.Series(groups).value_counts()
    if len(counts) <= max_groups:
        return groups
    ranked = sorted(counts.index, key=lambda f: (-counts[f], family_order(f)))
    keep = set(ranked[: max(1, max_groups - 1)])
    return np.array([g if g in keep else OTHER for g in groups]).astype(str)
