"""A deterministic speech synthesiser (no speech corpus can be downloaded here).

A source-filter model: a glottal pulse train (one Rosenberg-style pulse per period)
on a time-varying pitch contour (declination, accents on stressed syllables, a final
fall, slow wobble, jitter) plus aspiration noise, through five time-varying formant
resonators whose targets move between vowel, approximant and nasal positions;
fricatives as band-passed noise, stops as closure, burst and aspiration;
syllable-rate amplitude envelopes and pauses between words. Speakers differ in
pitch range, vocal-tract length (formant scaling), speaking rate, breathiness and
pulse shape. :func:`synth_utterance` gives an utterance and its phone segments; the
embedded TIMIT and IEMOCAP releases are written from it.

Everything is a pure function of its seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from scipy import signal as sps


# ----------------------------------------------------------------------------------
# Phone inventory. Formant targets (Hz, adult male averages from the classic vowel
# measurements; scaled per speaker) and bandwidths.
# ----------------------------------------------------------------------------------
_VOWELS: Dict[str, Tuple[float, float, float]] = {
    "iy": (270, 2290, 3010), "ih": (390, 1990, 2550), "eh": (530, 1840, 2480),
    "ae": (660, 1720, 2410), "aa": (730, 1090, 2440), "ao": (570, 840, 2410),
    "uh": (440, 1020, 2240), "uw": (300, 870, 2240), "ah": (640, 1190, 2390),
    "er": (490, 1350, 1690),
}
_DIPHTHONGS = {"ay": ("aa", "iy"), "ey": ("eh", "iy"), "ow": ("ao", "uw"),
               "aw": ("aa", "uw"), "oy": ("ao", "iy")}
_APPROX: Dict[str, Tuple[float, float, float]] = {
    "l": (360, 1300, 2700), "r": (310, 1060, 1380), "w": (300, 610, 2200),
    "y": (260, 2070, 3020),
}
_NASALS: Dict[str, Tuple[float, float, float]] = {
    "m": (250, 1100, 2200), "n": (250, 1500, 2500), "ng": (250, 2000, 2700),
}
# fricatives: (low Hz, high Hz, relative level, voiced)
_FRICATIVES = {
    "s": (3800.0, 7600.0, 0.30, False), "sh": (1800.0, 5600.0, 0.32, False),
    "f": (900.0, 7600.0, 0.07, False), "th": (1300.0, 7600.0, 0.06, False),
    "z": (3800.0, 7600.0, 0.18, True), "zh": (1800.0, 5600.0, 0.20, True),
    "v": (900.0, 7600.0, 0.05, True),
}
# stops: (burst low Hz, burst high Hz, voiced)
_STOPS = {
    "p": (400.0, 2200.0, False), "t": (2800.0, 7600.0, False), "k": (1400.0, 3600.0, False),
    "b": (400.0, 2200.0, True), "d": (2800.0, 7600.0, True), "g": (1400.0, 3600.0, True),
}
_ONSETS = (list(_STOPS) + list(_FRICATIVES) + list(_NASALS) + list(_APPROX) + ["hh"])
_CODAS = ["t", "d", "k", "s", "z", "n", "m", "ng", "l", "r", "f", "sh", "p"]
_NUCLEI = list(_VOWELS) + list(_DIPHTHONGS)
_F45 = (3500.0, 4500.0)
_BW = (70.0, 100.0, 140.0, 220.0, 300.0)


@dataclass(frozen=True)
class SyntheticSpeaker:
    """Voice parameters of one synthetic talker."""

    name: str  # TIMIT-style ID, e.g. "FSYA0" (first letter = sex)
    f0: float  # mean fundamental frequency, Hz
    f0_swing: float  # accent excursion, semitones
    formant_scale: float  # vocal-tract length factor (female ~1.15)
    rate: float  # speaking-rate factor (1 = average)
    breathiness: float  # aspiration-to-voicing ratio
    open_phase: float  # glottal opening phase (fraction of the period)
    close_phase: float  # glottal closing phase (fraction of the period)
    tilt: float  # one-pole low-pass coefficient on the source (spectral tilt)


def make_speakers(n: int, seed: int = 0) -> List[SyntheticSpeaker]:
    """``n`` speakers, alternating female / male, parameters drawn from ``seed``."""
    speakers = []
    for i in range(n):
        rng = np.random.default_rng([seed, 7919, i])
        female = i % 2 == 0
        letter = chr(ord("A") + (i // 10) % 26)
        name = f"{'F' if female else 'M'}SY{letter}{i % 10}"
        speakers.append(SyntheticSpeaker(
            name=name,
            f0=float(rng.uniform(175, 250) if female else rng.uniform(90, 140)),
            f0_swing=float(rng.uniform(1.5, 4.0)),
            formant_scale=float(rng.uniform(1.10, 1.22) if female else rng.uniform(0.92, 1.04)),
            rate=float(rng.uniform(0.85, 1.2)),
            breathiness=float(rng.uniform(0.02, 0.12) if female else rng.uniform(0.01, 0.07)),
            open_phase=float(rng.uniform(0.35, 0.5)),
            close_phase=float(rng.uniform(0.10, 0.2)),
            tilt=float(rng.uniform(0.0, 0.5)),
        ))
    return speakers


# ----------------------------------------------------------------------------------
# Utterance planning
# ----------------------------------------------------------------------------------
@dataclass
class _Seg:
    label: str
    kind: str  # sil, vowel, approx, nasal, fric, stop, h
    dur: float  # seconds
    stress: float = 1.0
    accent: float = 0.0


def _plan_utterance(rng: np.random.Generator, speaker: SyntheticSpeaker,
                    seconds: float) -> List[_Seg]:
    segs = [_Seg("h#", "sil", float(rng.uniform(0.08, 0.22)))]
    tail = float(rng.uniform(0.08, 0.2))
    total = segs[0].dur + tail
    r = speaker.rate
    while total < seconds:
        n_syll = int(rng.integers(1, 4))
        word: List[_Seg] = []
        for k in range(n_syll):
            stressed = k == 0 if n_syll > 1 else bool(rng.random() < 0.7)
            stress = float(rng.uniform(0.8, 1.0) if stressed else rng.uniform(0.45, 0.75))
            accent = float(rng.uniform(0.5, 1.0)) if stressed and rng.random() < 0.6 else 0.0
            if rng.random() < 0.85:
                word.append(_onset(rng, rng.choice(_ONSETS), r))
                if rng.random() < 0.15 and word[-1].kind in ("stop", "fric"):
                    word.append(_onset(rng, rng.choice(list(_APPROX)), r))
            nuc = str(rng.choice(_NUCLEI))
            vdur = (rng.uniform(0.11, 0.22) if stressed else rng.uniform(0.06, 0.12)) / r
            word.append(_Seg(nuc, "vowel", float(vdur), stress, accent))
            if rng.random() < 0.4:
                word.append(_onset(rng, rng.choice(_CODAS), r))
        segs.extend(word)
        total += sum(s.dur for s in word)
        if rng.random() < 0.35 and total < seconds:
            pause = float(rng.uniform(0.05, 0.2))
            segs.append(_Seg("pau", "sil", pause))
            total += pause
    segs.append(_Seg("h#", "sil", tail))
    return segs


def _onset(rng: np.random.Generator, label, r: float) -> _Seg:
    label = str(label)
    if label in _STOPS:
        return _Seg(label, "stop", float(rng.uniform(0.05, 0.10) / r))
    if label in _FRICATIVES:
        return _Seg(label, "fric", float(rng.uniform(0.06, 0.13) / r))
    if label in _NASALS:
        return _Seg(label, "nasal", float(rng.uniform(0.04, 0.08) / r))
    if label in _APPROX:
        return _Seg(label, "approx", float(rng.uniform(0.04, 0.07) / r))
    return _Seg("hh", "h", float(rng.uniform(0.04, 0.08) / r))


# ----------------------------------------------------------------------------------
# Signal generation
# ----------------------------------------------------------------------------------
def _ramp_env(n: int, ramp: int) -> np.ndarray:
    env = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp > 0:
        up = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
        env[:ramp] = up
        env[n - ramp:] = up[::-1]
    return env


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average with a Hann kernel of ``width`` samples (edges held)."""
    if width <= 1:
        return x
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    pad = width // 2
    xp = np.pad(x, (pad, width - 1 - pad), mode="edge")
    return sps.oaconvolve(xp, k, mode="valid")


def _glottal_source(f0: np.ndarray, sr: int, speaker: SyntheticSpeaker,
                    rng: np.random.Generator) -> np.ndarray:
    """Rosenberg-style glottal flow per period, differentiated (lip radiation)."""
    n = f0.shape[0]
    # jitter: slow random perturbation of the instantaneous frequency (~0.7 %)
    jit = _smooth(rng.standard_normal(n), max(1, sr // 200)) * 0.02
    phase = np.cumsum(f0 * (1.0 + jit) / sr)
    ph = phase - np.floor(phase)
    tp, tn = speaker.open_phase, speaker.close_phase
    flow = np.where(ph < tp, 0.5 - 0.5 * np.cos(np.pi * ph / tp), 0.0)
    closing = (ph >= tp) & (ph < tp + tn)
    flow = np.where(closing, np.cos(0.5 * np.pi * (ph - tp) / tn), flow)
    # shimmer: per-period amplitude variation
    period_idx = np.floor(phase).astype(np.int64)
    shimmer = 1.0 + 0.04 * rng.standard_normal(int(period_idx.max()) + 2)
    flow = flow * shimmer[period_idx]
    src = np.diff(flow, prepend=flow[0])
    if speaker.tilt > 0:
        src = sps.lfilter([1.0 - speaker.tilt], [1.0, -speaker.tilt], src)
    return src / (np.max(np.abs(src)) + 1e-9)


def _formant_cascade(x: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray,
                     sr: int, hop: int = 80, n_fft: int = 1024) -> np.ndarray:
    """Time-varying cascade of 2-pole resonators, applied by overlap-add.

    ``formants``/``bandwidths``: ``[n_formants, n_samples]``. The excitation is cut
    into Hann-windowed frames (``2*hop`` long, 50 % overlap, which sums to one);
    each frame is filtered (zero-padded FFT, so the resonances ring out into the
    padding) with the cascade's frequency response at that frame's formants, and
    the filtered frames are overlap-added. Vectorised, hence fast.
    """
    n = x.shape[0]
    win_len = 2 * hop
    n_frames = int(np.ceil(n / hop)) + 1
    padded = np.zeros((n_frames + 1) * hop + n_fft)
    padded[hop: hop + n] = x  # frame k covers samples [(k-1)*hop, (k+1)*hop)
    idx = np.arange(n_frames)[:, None] * hop + np.arange(win_len)[None, :]
    window = np.sin(np.pi * (np.arange(win_len) + 0.5) / win_len) ** 2  # periodic Hann
    frames = padded[idx] * window
    spec = np.fft.rfft(frames, n=n_fft, axis=1)
    centers = np.clip(np.arange(n_frames) * hop, 0, n - 1)
    # denominator polynomial of the whole cascade per frame (product of quadratics),
    # evaluated on the FFT grid with one FFT per frame
    den = np.ones((n_frames, 1))
    gain = np.ones(n_frames)
    for k in range(formants.shape[0]):
        f = np.minimum(formants[k, centers], 0.45 * sr)
        r = np.exp(-np.pi * bandwidths[k, centers] / sr)
        a1 = (-2.0 * r * np.cos(2.0 * np.pi * f / sr))[:, None]
        a2 = (r * r)[:, None]
        nxt = np.zeros((n_frames, den.shape[1] + 2))
        nxt[:, :-2] += den
        nxt[:, 1:-1] += a1 * den
        nxt[:, 2:] += a2 * den
        den = nxt
        gain *= (1.0 + a1 + a2)[:, 0]  # unity gain at DC per resonator
    resp = gain[:, None] / np.fft.rfft(den, n=n_fft, axis=1)
    out_frames = np.fft.irfft(spec * resp, n=n_fft, axis=1)
    out = np.zeros(padded.shape[0])
    for k in range(n_frames):  # overlap-add (n_frames small: a few hundred)
        out[k * hop: k * hop + n_fft] += out_frames[k]
    return out[hop: hop + n]


_SOS_CACHE: Dict[Tuple[float, float, int], np.ndarray] = {}


def _bandpass(lo: float, hi: float, sr: int) -> np.ndarray:
    key = (lo, hi, sr)
    if key not in _SOS_CACHE:
        nyq = sr / 2.0
        hi = min(hi, 0.95 * nyq)
        lo = min(lo, 0.8 * hi)
        _SOS_CACHE[key] = sps.butter(4, [lo / nyq, hi / nyq], btype="band", output="sos")
    return _SOS_CACHE[key]


def _targets(seg: _Seg, frac: float) -> Tuple[float, float, float]:
    """Formant targets (F1..F3, unscaled) of a segment at relative time ``frac``."""
    lab = seg.label
    if lab in _VOWELS:
        return _VOWELS[lab]
    if lab in _DIPHTHONGS:
        a, b = _VOWELS[_DIPHTHONGS[lab][0]], _VOWELS[_DIPHTHONGS[lab][1]]
        w = np.clip((frac - 0.3) / 0.6, 0, 1)
        return tuple((1 - w) * np.array(a) + w * np.array(b))
    if lab in _APPROX:
        return _APPROX[lab]
    if lab in _NASALS:
        return _NASALS[lab]
    return (500.0, 1500.0, 2500.0)  # neutral tract for stops / fricatives / h / silence


def synth_utterance(
    speaker: SyntheticSpeaker,
    seed,
    seconds: float = 2.0,
    sample_rate: int = 16000,
    level_db: float = -26.0,
) -> Tuple[np.ndarray, List[Tuple[int, int, str]]]:
    """One speech-like utterance of about ``seconds`` (float32) and its segments.

    ``seed`` is anything ``np.random.default_rng`` accepts (an int or a list of
    ints). The RMS over the active (loud) parts is set to ``level_db`` dBFS and the
    peak is kept at or below 0.95.
    Returns ``(audio, [(start_sample, end_sample, label), ...])``.
    """
    rng = np.random.default_rng(seed)
    sr = sample_rate
    plan = _plan_utterance(rng, speaker, seconds)
    lens = [max(1, int(round(s.dur * sr))) for s in plan]
    n = int(sum(lens))
    bounds = np.concatenate([[0], np.cumsum(lens)])

    F = np.zeros((5, n))
    av = np.zeros(n)  # voicing amplitude
    ah = np.zeros(n)  # aspiration amplitude (through the formants)
    fric = np.zeros(n)  # frication + bursts (parallel path)
    f0_accent = np.zeros(n)
    scale = speaker.formant_scale
    for i, seg in enumerate(plan):
        s, e = bounds[i], bounds[i + 1]
        m = e - s
        frac = (np.arange(m) + 0.5) / m
        tg = np.array([_targets(seg, fr) for fr in frac[:: max(1, m // 16)]])
        for k in range(3):
            F[k, s:e] = np.interp(frac, frac[:: max(1, m // 16)], tg[:, k]) * scale
        F[3, s:e] = _F45[0] * scale
        F[4, s:e] = _F45[1] * scale
        ramp = int(0.015 * sr)
        if seg.kind == "vowel":
            av[s:e] = seg.stress * _ramp_env(m, ramp)
            if seg.accent:
                f0_accent[s:e] += seg.accent * np.sin(np.pi * frac)
        elif seg.kind == "approx":
            av[s:e] = 0.55 * _ramp_env(m, ramp)
        elif seg.kind == "nasal":
            av[s:e] = 0.3 * _ramp_env(m, ramp)
        elif seg.kind == "h":
            ah[s:e] = 0.25 * _ramp_env(m, ramp // 2)
        elif seg.kind == "fric":
            lo, hi, lvl, voiced = _FRICATIVES[seg.label]
            noise = sps.sosfilt(_bandpass(lo, hi, sr), rng.standard_normal(m + 256))[256:]
            noise /= np.std(noise) + 1e-12
            fric[s:e] += lvl * noise * _ramp_env(m, ramp) * float(rng.uniform(0.7, 1.2))
            if voiced:
                av[s:e] = 0.15 * _ramp_env(m, ramp)
        elif seg.kind == "stop":
            lo, hi, voiced = _STOPS[seg.label]
            closure = int(0.6 * m)
            if voiced:
                av[s:s + closure] = 0.06  # voice bar
            burst_len = max(8, int(rng.uniform(0.006, 0.014) * sr))
            b_end = min(e, s + closure + burst_len)
            bl = b_end - (s + closure)
            if bl > 0:
                burst = sps.sosfilt(_bandpass(lo, hi, sr), rng.standard_normal(bl + 256))[256:]
                burst /= np.std(burst) + 1e-12
                fric[s + closure:b_end] += 0.35 * burst * np.exp(-np.arange(bl) / (0.3 * bl))
            if not voiced and b_end < e:
                ah[b_end:e] = 0.2 * _ramp_env(e - b_end, (e - b_end) // 3)
    # coarticulation: smooth the formant tracks (~25 ms) and the amplitude tracks (~8 ms)
    for k in range(5):
        F[k] = _smooth(F[k], int(0.025 * sr))
    av = _smooth(av, int(0.008 * sr))
    ah = _smooth(ah, int(0.008 * sr))
    B = np.tile(np.array(_BW)[:, None], (1, n)) * (1.0 + 0.1 * (scale - 1.0))
    for i, seg in enumerate(plan):
        if seg.kind == "nasal":
            B[:, bounds[i]:bounds[i + 1]] *= 2.0

    # pitch: declination, accents, final fall, slow wobble
    t = np.arange(n) / sr
    base = speaker.f0 * 2.0 ** (rng.normal(0.0, 0.06))
    semis = (np.linspace(1.5, -2.0, n) + speaker.f0_swing * f0_accent
             + 0.25 * np.sin(2 * np.pi * rng.uniform(3.0, 6.0) * t + rng.uniform(0, 2 * np.pi)))
    fall_len = int(0.3 * sr)
    if n > fall_len:
        semis[-fall_len:] -= np.linspace(0.0, 2.5, fall_len)
    f0 = base * 2.0 ** (semis / 12.0)

    src = _glottal_source(f0, sr, speaker, rng)
    asp = sps.lfilter([1.0], [1.0, -0.3], rng.standard_normal(n)) * 0.15
    # aspiration pulsed with the glottal cycle during voicing (breathy voice)
    excitation = av * (src + speaker.breathiness * asp * (0.5 + np.abs(src))) + ah * asp
    voiced = _formant_cascade(excitation, F, B, sr)
    voiced = sps.lfilter([1.0, -0.4], [1.0], voiced)  # a little extra radiation brightness
    if np.any(av > 0.3):  # voiced parts at RMS 1, so the consonant levels are relative
        voiced /= np.sqrt(np.mean(voiced[av > 0.3] ** 2)) + 1e-12
    out = voiced + fric
    # gentle syllable-rate amplitude modulation on top of the segment envelopes
    out *= 1.0 + 0.15 * np.sin(2 * np.pi * rng.uniform(3.0, 5.0) * t + rng.uniform(0, 2 * np.pi))
    # a very low recording noise floor (about 60 dB below the speech)
    out += 1e-3 * sps.lfilter([1.0], [1.0, -0.95], rng.standard_normal(n)) * 0.3

    env = np.sqrt(_smooth(out ** 2, int(0.02 * sr)))
    active = env > 0.1 * env.max()
    level = np.sqrt(np.mean(out[active] ** 2)) if np.any(active) else np.sqrt(np.mean(out ** 2))
    out *= 10.0 ** (level_db / 20.0) / (level + 1e-12)
    peak = np.max(np.abs(out))
    if peak > 0.95:
        out *= 0.95 / peak
    segments = [(int(bounds[i]), int(bounds[i + 1]), s.label) for i, s in enumerate(plan)]
    return out.astype(np.float32), segments


# ----------------------------------------------------------------------------------
# Writing trees
# ----------------------------------------------------------------------------------
