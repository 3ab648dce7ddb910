"""The one noise synthesiser of the embedded datasets: deterministic stand-ins for
NOISEX-92-style recordings (white, pink, babble, factory, engine, vehicle, street,
cockpit), written as a folder of WAV files the noise-folder readers take as real.

Each call draws from its own generator seeded by (seed, the noise's index in
:data:`NOISE_NAMES`), so adding a name at the end never changes another's signal.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np
from scipy import signal as sps

from tfaudio.audio.io import write_audio

#: Every noise :func:`synth_noise` makes (append new names: the index seeds the signal).
NOISE_NAMES = ("white", "pink", "babble", "factory1", "destroyerengine", "street",
               "volvo", "f16", "factory2", "leopard")


def _colored(rng: np.random.Generator, n: int, sr: int, exponent: float,
             f_lo: float = 20.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent above ``f_lo``."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    shape = np.where(f < f_lo, 0.0, 1.0 / np.maximum(f, f_lo) ** (exponent / 2.0))
    x = np.fft.irfft(spec * shape, n)
    return x / (np.std(x) + 1e-12)


def _harmonics(t: np.ndarray, f0: np.ndarray, amps: Sequence[float],
               rng: np.random.Generator) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0) * (t[1] - t[0]) if t.shape[0] > 1 else np.zeros_like(t)
    out = np.zeros_like(t)
    for k, a in enumerate(amps, start=1):
        out += a * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out


def synth_noise(name: str, seconds: float = 10.0, sample_rate: int = 16000,
                seed: int = 0) -> np.ndarray:
    """A deterministic noise recording (float32, RMS 0.1) of the given type."""
    if name not in NOISE_NAMES:
        raise ValueError(f"unknown noise {name!r}; available: {', '.join(NOISE_NAMES)}")
    from tfaudio.datasets.speech_synth import _ramp_env, make_speakers, synth_utterance

    sr = sample_rate
    n = int(round(seconds * sr))
    rng = np.random.default_rng([seed, 104729, NOISE_NAMES.index(name)])
    t = np.arange(n) / sr
    if name == "white":
        x = rng.standard_normal(n)
    elif name == "pink":
        x = _colored(rng, n, sr, 1.0)
    elif name == "babble":
        x = np.zeros(n)
        talkers = make_speakers(6, seed=seed + 1000)
        for j, spk in enumerate(talkers):
            track = []
            k = 0
            while sum(len(a) for a in track) < n:
                utt, _ = synth_utterance(spk, [seed, 31, j, k], seconds=float(rng.uniform(1.5, 3.0)),
                                         sample_rate=sr)
                track.append(utt)
                k += 1
            talker = np.concatenate(track)
            talker = np.roll(talker, int(rng.integers(0, len(talker))))[:n]
            x += talker / (np.std(talker) + 1e-12)
    elif name == "factory1":
        x = 0.5 * _colored(rng, n, sr, 0.7)
        hum_f = 50.0 * np.ones(n)
        x += 0.6 * _harmonics(t, hum_f, [1.0, 0.6, 0.5, 0.3, 0.2, 0.15], rng)
        hits = np.zeros(n)
        n_hits = int(3.0 * seconds)
        for _ in range(n_hits):
            pos = int(rng.integers(0, n))
            f_res = rng.uniform(900, 4500)
            dec = rng.uniform(0.02, 0.08)
            length = min(n - pos, int(5 * dec * sr))
            tt = np.arange(length) / sr
            hits[pos:pos + length] += (rng.uniform(2.0, 6.0) * np.exp(-tt / dec)
                                       * np.sin(2 * np.pi * f_res * tt))
        # a rhythmic machine clank every ~0.5 s
        period = int(rng.uniform(0.4, 0.6) * sr)
        for pos in range(int(rng.integers(0, period)), n, period):
            length = min(n - pos, int(0.03 * sr))
            hits[pos:pos + length] += 2.0 * rng.standard_normal(length) * np.exp(
                -np.arange(length) / (0.006 * sr))
        x += hits
    elif name == "destroyerengine":
        f0 = rng.uniform(28, 36) * (1.0 + 0.01 * np.sin(2 * np.pi * 0.2 * t))
        amps = [1.0 / k ** 0.7 for k in range(1, 36)]
        x = _harmonics(t, f0, amps, rng)
        x *= 1.0 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t)
        low = sps.sosfilt(sps.butter(4, 800 / (sr / 2), output="sos"), rng.standard_normal(n))
        x = x / np.std(x) + 0.6 * low / np.std(low)
    elif name == "street":
        x = 0.8 * _colored(rng, n, sr, 2.0)
        lp = sps.butter(2, 1500 / (sr / 2), output="sos")
        for _ in range(int(0.5 * seconds)):  # passing vehicles
            dur = rng.uniform(1.0, 3.0)
            pos = int(rng.integers(0, n))
            length = min(n - pos, int(dur * sr))
            swell = np.hanning(int(dur * sr))[:length] ** 2
            car = sps.sosfilt(lp, rng.standard_normal(length))
            x[pos:pos + length] += 3.0 * swell * car / (np.std(car) + 1e-12)
        for _ in range(int(0.3 * seconds)):  # horn blips
            pos = int(rng.integers(0, n))
            length = min(n - pos, int(rng.uniform(0.15, 0.4) * sr))
            tt = np.arange(length) / sr
            f = rng.uniform(380, 520)
            horn = np.sign(np.sin(2 * np.pi * f * tt)) * 0.5 + np.sin(2 * np.pi * 2 * f * tt)
            x[pos:pos + length] += 1.2 * horn * _ramp_env(length, int(0.02 * sr))
        for _ in range(int(4 * seconds)):  # footsteps / clicks
            pos = int(rng.integers(0, n))
            length = min(n - pos, int(0.01 * sr))
            x[pos:pos + length] += 2.5 * rng.standard_normal(length) * np.exp(
                -np.arange(length) / (0.002 * sr))
    elif name == "factory2":  # a different hall: mains at 60 Hz, denser impacts, no clank
        x = 0.6 * _colored(rng, n, sr, 0.5)
        x += 0.5 * _harmonics(t, 60.0 * np.ones(n), [1.0, 0.5, 0.4, 0.2], rng)
        for _ in range(int(8.0 * seconds)):
            pos = int(rng.integers(0, n))
            dec = rng.uniform(0.01, 0.05)
            length = min(n - pos, int(5 * dec * sr))
            tt = np.arange(length) / sr
            x[pos:pos + length] += (rng.uniform(1.0, 4.0) * np.exp(-tt / dec)
                                    * np.sin(2 * np.pi * rng.uniform(500, 3000) * tt))
    elif name == "leopard":  # tracked vehicle: low engine harmonics with tread rhythm
        f0 = rng.uniform(32, 40) * (1.0 + 0.02 * np.sin(2 * np.pi * 0.3 * t))
        x = _harmonics(t, f0, [1.0 / k ** 0.5 for k in range(1, 16)], rng)
        x *= 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(1.0, 2.0) * t)
        low = sps.sosfilt(sps.butter(4, 800 / (sr / 2), output="sos"), rng.standard_normal(n))
        x = x / np.std(x) + 0.5 * low / np.std(low)
    elif name == "volvo":
        x = _colored(rng, n, sr, 2.5, f_lo=10.0)
        f0 = rng.uniform(22, 30) * (1.0 + 0.03 * np.sin(2 * np.pi * 0.1 * t))
        x = x + 0.5 * _harmonics(t, f0, [1.0, 0.7, 0.4, 0.2], rng)
    else:  # f16
        x = _colored(rng, n, sr, 0.5)
        for f, a in ((rng.uniform(600, 800), 0.8), (rng.uniform(2300, 2700), 0.6),
                     (rng.uniform(4500, 5000), 0.3)):
            x += a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        f0 = rng.uniform(90, 130)
        x += 0.4 * _harmonics(t, f0 * np.ones(n), [1.0, 0.5, 0.3], rng)
    x = np.asarray(x, dtype=np.float64)
    x -= x.mean()
    x *= 0.1 / (np.sqrt(np.mean(x ** 2)) + 1e-12)
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x *= 0.99 / peak
    return x.astype(np.float32)


def write_noise_folder(root, names: Sequence[str], seconds: float = 10.0,
                       sample_rate: int = 16000, seed: int = 0) -> List[Path]:
    """Write ``<root>/<name>.wav`` (16-bit PCM WAV) for each noise name."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        x = synth_noise(name, seconds=seconds, sample_rate=sample_rate, seed=seed)
        p = root / f"{name}.wav"
        write_audio(p, x, sample_rate, subtype="PCM_16")
        paths.append(p)
    return paths
