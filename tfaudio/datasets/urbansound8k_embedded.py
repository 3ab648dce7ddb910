"""Embedded default data for DFE: a small synthetic UrbanSound8K plus a noise folder.

Nothing can be downloaded, so the project generates — deterministically, from a seed —
a dataset in the *real* UrbanSound8K layout (``metadata/UrbanSound8K.csv`` with all
eight columns, ``audio/fold1..fold10/<fsID>-<classID>-<occurrence>-<slice>.wav``),
with the real set's awkward properties: several sample rates (22.05, 44.1, 48 kHz),
mono and stereo files, 16- and 24-bit PCM, clips shorter than 4 s. The real adapter
reads it, so the real code path is the one exercised.

Each of the ten classes is a parametric sound with per-clip random variation (pitch,
rhythm, timing, level) over a quiet background, so the classes are learnable but
not trivially separable. The noise folder imitates NOISEX-92's file naming (babble,
f16, factory1, factory2, leopard, pink, destroyerengine) at NOISEX's 19.98 kHz rate;
the noises are synthetic stand-ins with the right broad character, not the
recordings.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal as sps

from tfaudio.data.cache import build_once, embedded_dir
from tfaudio.datasets.noise import write_noise_folder
from tfaudio.datasets.urbansound8k import CLASSES

GENERATOR_VERSION = "us8k-synth-3"
NOISE_NAMES = ("babble", "f16", "factory1", "factory2", "leopard", "pink", "destroyerengine")
NOISE_RATE = 19980  # NOISEX-92's sampling rate


def _tone(t, f0, harmonics=6, decay=0.7):
    return sum((decay**k) * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(harmonics))


def _env(n, sr, attack, release):
    a = max(1, int(attack * sr))
    r = max(1, int(release * sr))
    e = np.ones(n)
    e[:a] = np.linspace(0, 1, a)
    e[-r:] = np.minimum(e[-r:], np.linspace(1, 0, r))
    return e


def _bandnoise(rng, n, sr, lo, hi):
    b, a = sps.butter(4, [lo / (sr / 2), min(hi / (sr / 2), 0.99)], btype="band")
    return sps.lfilter(b, a, rng.standard_normal(n))


def _pink(rng, n):
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(spec.size), 1))
    x = np.fft.irfft(spec, n)
    return x / (np.abs(x).max() + 1e-9)


def synth_event(class_id: int, rng: np.random.Generator, sr: int, seconds: float,
                distractor: bool = True) -> np.ndarray:
    """One clip of class ``class_id`` (0-9, UrbanSound8K order).

    Like real street recordings, the clip holds a background (pink noise at a random
    level) and, with ``distractor``, often a quieter sound of another class.
    """
    n = int(sr * seconds)
    t = np.arange(n) / sr
    name = CLASSES[class_id]
    if name == "air_conditioner":
        f0 = rng.uniform(45, 65)
        x = 0.6 * _tone(t, f0, 4, 0.5) + 0.8 * _bandnoise(rng, n, sr, 100, 1200)
    elif name == "car_horn":
        f0 = rng.uniform(380, 460)
        x = (_tone(t, f0, 8, 0.8) + _tone(t, f0 * 1.26, 8, 0.8)) * _env(n, sr, 0.02, 0.05)
        gate = np.zeros(n)
        s, d = int(rng.uniform(0, 0.3) * n), int(rng.uniform(0.4, 0.7) * n)
        gate[s : s + d] = 1
        x = x * sps.lfilter([0.02], [1, -0.98], gate)
    elif name == "children_playing":
        x = np.zeros(n)
        for _ in range(rng.integers(4, 9)):
            s = rng.integers(0, max(1, n - sr // 4))
            d = int(rng.uniform(0.1, 0.3) * sr)
            f = rng.uniform(280, 520) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(2, 6) * t[:d]))
            ph = 2 * np.pi * np.cumsum(f) / sr
            seg = sum(0.6**k * np.sin((k + 1) * ph) for k in range(5)) * np.hanning(d)
            x[s : s + d] += seg[: n - s]
        x += 0.3 * _bandnoise(rng, n, sr, 300, 4000)
    elif name == "dog_bark":
        x = np.zeros(n)
        for _ in range(rng.integers(2, 5)):
            s = rng.integers(0, max(1, n - sr // 5))
            d = int(rng.uniform(0.08, 0.18) * sr)
            f0 = rng.uniform(350, 700)
            seg = (_tone(t[:d], f0, 10, 0.75) + 0.5 * rng.standard_normal(d)) * np.exp(-t[:d] * 25)
            x[s : s + d] += seg[: n - s]
    elif name == "drilling":
        f0 = rng.uniform(1800, 3200)
        am = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(20, 40) * t)
        x = am * (_tone(t, f0, 3, 0.5) + 0.4 * _bandnoise(rng, n, sr, 1500, 6000))
    elif name == "engine_idling":
        f0 = rng.uniform(25, 40)
        am = 1 + 0.5 * np.sin(2 * np.pi * f0 / 2 * t)
        x = am * _tone(t, f0, 12, 0.85) + 0.3 * _bandnoise(rng, n, sr, 50, 500)
    elif name == "gun_shot":
        x = np.zeros(n)
        for _ in range(rng.integers(1, 4)):
            s = rng.integers(0, max(1, n - sr // 3))
            d = int(0.3 * sr)
            seg = rng.standard_normal(d) * np.exp(-t[:d] * rng.uniform(15, 30))
            x[s : s + d] += 3 * seg[: n - s]
    elif name == "jackhammer":
        rate = rng.uniform(12, 20)
        pulses = (np.sin(2 * np.pi * rate * t) > 0.6).astype(float)
        x = pulses * (_bandnoise(rng, n, sr, 200, 3000) + 0.5 * _tone(t, rng.uniform(90, 140), 5))
    elif name == "siren":
        fc, dev, rate = rng.uniform(700, 1000), rng.uniform(200, 400), rng.uniform(0.3, 1.5)
        f = fc + dev * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
        ph = 2 * np.pi * np.cumsum(f) / sr
        x = sum(0.5**k * np.sin((k + 1) * ph) for k in range(4))
    else:  # street_music
        x = np.zeros(n)
        root = rng.uniform(110, 220)
        step = int(rng.uniform(0.2, 0.4) * sr)
        for s in range(0, n, step):
            d = min(step, n - s)
            chord = root * 2 ** (rng.choice([0, 3, 4, 5, 7, 9, 12], size=3) / 12)
            seg = sum(_tone(t[:d], f, 5, 0.6) for f in chord) * np.hanning(d)
            x[s : s + d] += seg
    x = x / (np.abs(x).max() + 1e-9) * rng.uniform(0.3, 0.9)
    x += rng.uniform(0.01, 0.15) * _pink(rng, n)  # street background
    if distractor and rng.random() < 0.6:
        other = (class_id + int(rng.integers(1, len(CLASSES)))) % len(CLASSES)
        x += rng.uniform(0.1, 0.35) * synth_event(other, rng, sr, seconds, distractor=False)
    return np.clip(x, -1, 1).astype(np.float32)


def generate_urbansound8k(root, clips_per_class_per_fold: int = 3, seed: int = 0,
                          max_seconds: float = 4.0) -> Path:
    """Write a synthetic UrbanSound8K at ``root`` (must not exist yet)."""
    root = Path(root)
    rates = (22050, 44100, 48000)
    rows = []
    fs_id = 100000
    for fold in range(1, 11):
        (root / "audio" / f"fold{fold}").mkdir(parents=True, exist_ok=True)
        for class_id in range(len(CLASSES)):
            for k in range(clips_per_class_per_fold):
                rng = np.random.default_rng([seed, fold, class_id, k])
                fs_id += 1
                sr = int(rates[rng.integers(len(rates))])
                seconds = float(rng.uniform(0.6, 1.0) * max_seconds)
                x = synth_event(class_id, rng, sr, seconds)
                stereo = rng.random() < 0.3
                data = np.stack([x, x * rng.uniform(0.6, 1.0)], 1) if stereo else x
                subtype = "PCM_24" if rng.random() < 0.3 else "PCM_16"
                name = f"{fs_id}-{class_id}-0-{k}.wav"
                sf.write(root / "audio" / f"fold{fold}" / name, data, sr, subtype=subtype)
                start = float(rng.uniform(0, 30))
                rows.append(
                    dict(slice_file_name=name, fsID=fs_id, start=round(start, 6),
                         end=round(start + seconds, 6), salience=int(rng.integers(1, 3)),
                         fold=fold, classID=class_id, **{"class": CLASSES[class_id]})
                )
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return root


def generate_noises(root, seconds: float = 20.0, seed: int = 0) -> Path:
    """NOISEX-92-named noises (:mod:`tfaudio.datasets.noise`) at NOISEX's 19.98 kHz."""
    write_noise_folder(root, NOISE_NAMES, seconds=seconds, sample_rate=NOISE_RATE, seed=seed)
    return Path(root)


def ensure_embedded_urbansound8k(clips_per_class_per_fold: int = 3, seed: int = 0,
                                 max_seconds: float = 4.0) -> tuple[Path, Path]:
    """``(urbansound8k_root, noise_dir)`` in the cache, generated once, atomically."""
    tag = f"{GENERATOR_VERSION}-n{clips_per_class_per_fold}-s{seed}-d{max_seconds:g}"
    final = embedded_dir("urbansound8k", tag)
    def build(tmp: Path) -> None:
        generate_urbansound8k(tmp / "UrbanSound8K", clips_per_class_per_fold, seed, max_seconds)
        generate_noises(tmp / "noisex92", seed=seed)

    build_once(final, GENERATOR_VERSION, build)
    return final / "UrbanSound8K", final / "noisex92"
