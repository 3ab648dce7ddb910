"""Embedded default data for weakly labelled SED, in the DCASE 2019 task 4 layout.

Generated deterministically from a seed on first use (nothing is downloaded):

* ``synthetic`` — strongly labelled soundscapes: one to three events of the ten
  DCASE 2019 classes (parametric sounds with per-event variation) placed on a quiet
  pink-noise background at random onsets, onsets/offsets known;
* a "real" domain — the same kinds of events under a different recording chain: a
  louder, low-frequency-heavy background with a mains hum, and a channel colouring
  (a resonant band-pass plus soft clipping) on the whole clip. It is split into
  ``weak`` (clip labels only), ``unlabel_in_domain`` (no labels) and a strongly
  labelled ``validation`` set (with some event-less clips);
* a few files listed in every metadata file are not written, as in real copies.

Files are written at ``source_rate`` (16 kHz by default, smaller than the release's
44.1 kHz to keep the set small); the reader resamples them like real files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
import soundfile as sf
from scipy import signal as sps
from tqdm.auto import tqdm

from tfaudio.data.cache import build_once, embedded_dir
from tfaudio.datasets.dcase import DCASE2019_CLASSES, write_strong

GENERATOR_VERSION = "dcase-synth-2"
LONG_CLASSES = ("Blender", "Electric_shaver_toothbrush", "Frying", "Running_water", "Vacuum_cleaner")


def _band(rng, n, sr, lo, hi, order=3):
    b, a = sps.butter(order, [lo / (sr / 2), min(hi / (sr / 2), 0.95)], btype="band")
    return sps.lfilter(b, a, rng.standard_normal(n))


def _harm(phase, k, decay):
    return sum(decay**i * np.sin((i + 1) * phase) for i in range(k))


def _pink(rng, n, slope=1.0):
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.maximum(np.arange(spec.size), 1) ** (slope / 2)
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-9)


def synth_event(label: str, rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """One event of a DCASE 2019 class, unit peak."""
    n = max(int(sr * seconds), 16)
    t = np.arange(n) / sr
    if label == "Speech":
        f = rng.uniform(110, 230) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
        x = _harm(2 * np.pi * np.cumsum(f) / sr, 10, 0.75)
        x *= np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6)), 0, None)
    elif label == "Dog":
        x = np.zeros(n)
        for s in np.arange(0, seconds, rng.uniform(0.3, 0.5)):
            i, m = int(s * sr), int(0.15 * sr)
            seg = _harm(2 * np.pi * rng.uniform(350, 550) * t[:m], 6, 0.6) + 0.5 * rng.standard_normal(m)
            seg = seg[: n - i] * np.hanning(len(seg[: n - i]) + 2)[1:-1]
            x[i : i + len(seg)] += seg
    elif label == "Cat":
        f = np.linspace(rng.uniform(500, 700), rng.uniform(800, 1100), n) ** 1
        f = f * (1 - 0.3 * (t / seconds) ** 2)
        x = _harm(2 * np.pi * np.cumsum(f) / sr, 5, 0.5) * np.sin(np.pi * t / seconds)
    elif label == "Alarm_bell_ringing":
        f0 = rng.uniform(1800, 2600)
        x = np.sin(2 * np.pi * f0 * t) * (np.sin(2 * np.pi * rng.uniform(6, 10) * t) > 0)
    elif label == "Dishes":
        x = np.zeros(n)
        for i in rng.integers(0, n, size=max(1, int(seconds * rng.uniform(4, 8)))):
            m = min(int(0.05 * sr), n - i)
            x[i : i + m] += np.sin(2 * np.pi * rng.uniform(2500, 3800) * t[:m]) * np.exp(-t[:m] * 80)
    elif label == "Frying":
        x = _band(rng, n, sr, 2500, 7000) * (rng.random(n) < 0.15)
    elif label == "Blender":
        f0 = rng.uniform(180, 260)
        x = 0.6 * _harm(2 * np.pi * f0 * t, 12, 0.85) + _band(rng, n, sr, 500, 3000)
    elif label == "Running_water":
        x = _band(rng, n, sr, 800, 4500) * (1 + 0.4 * np.sin(2 * np.pi * rng.uniform(5, 12) * t))
    elif label == "Vacuum_cleaner":
        x = _band(rng, n, sr, 300, 2500) + 0.4 * np.sin(2 * np.pi * rng.uniform(90, 140) * t)
    elif label == "Electric_shaver_toothbrush":
        f0 = rng.uniform(90, 150)
        x = np.sign(np.sin(2 * np.pi * f0 * t)) * 0.5 + 0.3 * _band(rng, n, sr, 3000, 6000)
    else:
        x = _band(rng, n, sr, 200, 4000)
    ramp = min(int(0.02 * sr), n // 4)
    if ramp:
        x[:ramp] *= np.linspace(0, 1, ramp)
        x[-ramp:] *= np.linspace(1, 0, ramp)
    return x / (np.abs(x).max() + 1e-9)


def soundscape(rng, sr: int, seconds: float, classes, real: bool, max_events: int = 3,
               empty_prob: float = 0.0):
    """(waveform, events): events on a background; ``real`` selects the recording chain."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    if real:
        bg = 0.08 * _pink(rng, n, slope=2.0) + 0.03 * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6))
    else:
        bg = 0.01 * _pink(rng, n, slope=1.0)
    x = bg.copy()
    events = []
    k = 0 if rng.random() < empty_prob else int(rng.integers(1, max_events + 1))
    for label in rng.choice(np.asarray(classes), size=min(k, len(classes)), replace=False):
        label = str(label)  # one event per class and clip: same-class events never overlap
        dur = rng.uniform(2.0, 6.0) if label in LONG_CLASSES else rng.uniform(0.5, 2.5)
        dur = min(dur, seconds - 0.2)
        onset = float(rng.uniform(0, seconds - dur))
        ev = synth_event(label, rng, sr, dur) * 10 ** (rng.uniform(-12, -2) / 20)
        i = int(onset * sr)
        x[i : i + len(ev)] += ev[: n - i]
        events.append((round(onset, 3), round(onset + len(ev[: n - i]) / sr, 3), label))
    if real:  # the recording chain: resonant band colouring + soft saturation
        b, a = sps.iirpeak(rng.uniform(700, 1100) / (sr / 2), 1.5)
        x = 0.5 * x + 1.5 * sps.lfilter(b, a, x)
        b, a = sps.butter(2, min(5000.0, 0.45 * sr) / (sr / 2))
        x = np.tanh(2.5 * sps.lfilter(b, a, x)) / 2.5
    x = 0.7 * x / (np.abs(x).max() + 1e-9)
    return x.astype(np.float32), sorted(events)


def generate_dcase(root, sizes: Dict[str, int], seed: int = 0, sr: int = 16000, seconds: float = 10.0,
                   missing_per_subset: int = 2, classes=DCASE2019_CLASSES, progress: bool = True) -> Path:
    """Write the set at ``root``; ``sizes`` = clips per subset (synthetic, weak,
    unlabeled, validation), including the ``missing_per_subset`` never written."""
    root = Path(root)
    folders = {"synthetic": "audio/train/synthetic", "weak": "audio/train/weak",
               "unlabeled": "audio/train/unlabel_in_domain", "validation": "audio/validation"}
    meta: Dict[str, tuple] = {}
    bar = tqdm(total=sum(int(sizes.get(k, 0)) for k in folders), desc="generate embedded DCASE set",
               unit="clip", disable=not progress, leave=False)
    for si, (subset, folder) in enumerate(folders.items()):
        (root / folder).mkdir(parents=True, exist_ok=True)
        files: List[str] = []
        events: Dict[str, list] = {}
        count = int(sizes.get(subset, 0))
        for i in range(count):
            rng = np.random.default_rng([seed, si, i])
            name = f"{'Y' if subset != 'synthetic' else ''}{subset[:3]}{i:05d}_{i * 7 % 1000}.000_{i * 7 % 1000 + 10}.000.wav"
            x, ev = soundscape(rng, sr, seconds, classes, real=subset != "synthetic",
                               empty_prob=0.15 if subset == "validation" else 0.0)
            files.append(name)
            events[name] = ev
            if i >= missing_per_subset:  # the first few are listed but absent
                sf.write(root / folder / name, x, sr, subtype="PCM_16")
            bar.update(1)
        meta[subset] = (files, events)
    bar.close()
    (root / "metadata" / "train").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "validation").mkdir(parents=True, exist_ok=True)
    write_strong(root / "metadata/train/synthetic.tsv", *meta["synthetic"])
    write_strong(root / "metadata/validation/validation.tsv", *meta["validation"])
    files, events = meta["weak"]
    (root / "metadata/train/weak.tsv").write_text(
        "filename\tevent_labels\n"
        + "".join(f"{f}\t{','.join(sorted({e[2] for e in events[f]}))}\n" for f in files))
    (root / "metadata/train/unlabel_in_domain.tsv").write_text(
        "filename\n" + "".join(f"{f}\n" for f in meta["unlabeled"][0]))
    return root


def ensure_embedded_dcase(synthetic: int = 120, weak: int = 80, unlabeled: int = 120, validation: int = 48,
                          seed: int = 0, sr: int = 16000, seconds: float = 10.0, progress: bool = True) -> Path:
    """The embedded set's root in the cache, generated once, atomically (``progress``:
    the generator's progress bar)."""
    sizes = {"synthetic": synthetic, "weak": weak, "unlabeled": unlabeled, "validation": validation}
    tag = f"{GENERATOR_VERSION}-{synthetic}-{weak}-{unlabeled}-{validation}-s{seed}-r{sr}-d{seconds:g}"
    return build_once(embedded_dir("dcase2019", tag), GENERATOR_VERSION,
                      lambda tmp: generate_dcase(tmp, sizes, seed, sr, seconds, progress=progress))
