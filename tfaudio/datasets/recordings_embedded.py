"""Embedded default data for self-supervised pretraining and its downstream probe.

Nothing can be downloaded, so two small sets are generated deterministically from a
seed, in real on-disk layouts, and read back by the real readers:

* an **unlabelled audio folder tree** (``recordings/<group>/<id>.wav|.flac``, clips of
  different lengths, a few shorter than one second) for pretraining: every
  recording is one synthetic "source" with its own consistent character (pitch
  range, harmonic colour, note rate, amplitude modulation, noise band, background
  level), drawn from a family of sources plus per-recording jitter, and it drifts in
  level over time. Two stretches of one recording are therefore more alike than
  stretches of two recordings, which is what contrastive pretraining learns from;
* a **labelled folder-per-class task** (``classes/{train,test}/<family>/*.wav``):
  clips of six of those families, the class being the family. The task needs
  features that separate characters, not loudness.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import signal as sps

from tfaudio.audio import write_audio
from tfaudio.data.cache import build_once, embedded_dir

GENERATOR_VERSION = "recordings-synth-1"
NUM_FAMILIES = 12
LABELLED_FAMILIES = (0, 2, 4, 6, 8, 10)
FAMILY_NAMES = ("flute", "reed", "bell", "buzz", "hum", "chirp", "drum", "rain", "voice", "engine", "whistle",
                "click")


def _family(index: int) -> dict:
    """Fixed centre parameters of a family (its own RNG, independent of the seed)."""
    r = np.random.default_rng([7, index])
    return {
        "f0": float(np.exp(r.uniform(np.log(90), np.log(1400)))),
        "harmonics": int(r.integers(1, 9)),
        "decay": float(r.uniform(0.3, 0.9)),
        "note_rate": float(r.uniform(0.7, 8.0)),
        "am_rate": float(r.uniform(0.0, 14.0)),
        "noise_lo": float(r.uniform(150, 3000)),
        "noise_width": float(r.uniform(0.3, 2.0)),
        "noise_mix": float(r.uniform(0.0, 0.9)),
        "glide": float(r.uniform(-0.5, 0.5)),
    }


def _bandnoise(rng, n, sr, lo, hi):
    hi = min(hi, 0.45 * sr)
    lo = min(lo, hi * 0.8)
    b, a = sps.butter(2, [lo / (sr / 2), hi / (sr / 2)], btype="band")
    return sps.lfilter(b, a, rng.standard_normal(n))


def synth_recording(family: int, rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """One recording of a family: the family's centre parameters, jittered once per
    recording (its character), notes drawn around its pitch, a slow level drift."""
    c = _family(family)
    n = max(1, int(sr * seconds))
    t = np.arange(n) / sr
    f0 = c["f0"] * 2 ** rng.uniform(-0.4, 0.4)
    harmonics = max(1, c["harmonics"] + int(rng.integers(-1, 2)))
    decay = float(np.clip(c["decay"] + rng.uniform(-0.1, 0.1), 0.1, 0.95))
    note_rate = c["note_rate"] * 2 ** rng.uniform(-0.3, 0.3)
    am_rate = c["am_rate"] * 2 ** rng.uniform(-0.3, 0.3)
    scale = rng.choice([0, 2, 3, 5, 7, 9, 12], size=4, replace=False)
    x = np.zeros(n)
    step = max(1, int(sr / note_rate))
    for s in range(0, n, step):
        d = min(n - s, int(step * rng.uniform(0.5, 1.0)))
        if d < 8:
            continue
        f = f0 * 2 ** (rng.choice(scale) / 12) * (1 + c["glide"] * np.linspace(0, 1, d))
        ph = 2 * np.pi * np.cumsum(f) / sr
        note = sum(decay**k * np.sin((k + 1) * ph) for k in range(harmonics))
        x[s : s + d] += note * np.hanning(d)
    if am_rate > 0.5:
        x *= 0.6 + 0.4 * np.sin(2 * np.pi * am_rate * t + rng.uniform(0, 2 * np.pi))
    x /= np.abs(x).max() + 1e-9
    lo = c["noise_lo"] * 2 ** rng.uniform(-0.2, 0.2)
    noise = _bandnoise(rng, n, sr, lo, lo * 2 ** (1 + c["noise_width"]))
    x = (1 - c["noise_mix"]) * x + c["noise_mix"] * noise / (np.abs(noise).max() + 1e-9)
    drift = np.exp(np.interp(t, np.linspace(0, t[-1] + 1e-9, 5), rng.uniform(-0.7, 0.7, 5)))
    x = x * drift / (np.abs(x * drift).max() + 1e-9) * rng.uniform(0.2, 0.8)
    x += rng.uniform(0.002, 0.03) * rng.standard_normal(n)
    return np.clip(x, -1, 1).astype(np.float32)


def generate_recordings(root, num_clips: int = 400, seed: int = 0, sr: int = 16000,
                        seconds: tuple = (2.0, 4.0)) -> Path:
    """``root/<group>/<id>.wav`` (every 5th clip FLAC, every 40th shorter than 1 s)."""
    root = Path(root)
    rng = np.random.default_rng([seed, 11])
    for i in range(num_clips):
        fam = int(rng.integers(NUM_FAMILIES))
        sec = float(rng.uniform(*seconds)) if i % 40 != 39 else float(rng.uniform(0.3, 0.8))
        x = synth_recording(fam, np.random.default_rng([seed, 13, i]), sr, sec)
        ext = "flac" if i % 5 == 4 else "wav"
        write_audio(root / f"group{i % 8}" / f"rec{i:05d}.{ext}", x, sr)
    return root


def generate_class_folders(root, train_per_class: int = 40, test_per_class: int = 20, seed: int = 0,
                           sr: int = 16000, seconds: float = 2.0) -> Path:
    """``root/{train,test}/<family name>/<n>.wav``: six families as classes."""
    root = Path(root)
    for split, count, salt in (("train", train_per_class, 21), ("test", test_per_class, 22)):
        for fam in LABELLED_FAMILIES:
            for j in range(count):
                x = synth_recording(fam, np.random.default_rng([seed, salt, fam, j]), sr, seconds)
                write_audio(root / split / FAMILY_NAMES[fam] / f"{j:04d}.wav", x, sr)
    return root


def ensure_embedded_recordings(num_clips: int = 400, seed: int = 0, sr: int = 16000) -> Path:
    """The unlabelled pretraining folder, generated once under the cache."""
    final = embedded_dir("recordings", f"{GENERATOR_VERSION}-n{num_clips}-s{seed}-sr{sr}")
    return build_once(final, GENERATOR_VERSION, lambda tmp: generate_recordings(tmp, num_clips, seed, sr))


def ensure_embedded_classes(train_per_class: int = 40, test_per_class: int = 20, seed: int = 0,
                            sr: int = 16000, seconds: float = 2.0) -> Path:
    """The labelled folder-per-class task, generated once under the cache."""
    final = embedded_dir("classes", f"{GENERATOR_VERSION}-{train_per_class}-{test_per_class}-s{seed}-sr{sr}"
                                    f"-{seconds:g}s")
    return build_once(final, GENERATOR_VERSION,
                      lambda tmp: generate_class_folders(tmp, train_per_class, test_per_class, seed, sr, seconds))
