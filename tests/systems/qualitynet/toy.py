"""A tiny labelled quality set for tests and benchmarks (seconds to write, no PESQ)."""
from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd


def make_toy_manifests(out_dir, n_train: int = 16, n_dev: int = 6, n_test: int = 6,
                       seed: int = 0, min_seconds: float = 0.3, max_seconds: float = 1.2,
                       sample_rate: int = 16000) -> Dict[str, Path]:
    """A tiny labelled set for smoke tests and examples (seconds to write, no PESQ).

    Each utterance is a vowel-like harmonic signal with a slow pitch glide and
    syllable-rate amplitude modulation; "clean" ones (score 4.5) are kept as is, the
    others get white noise at an SNR in [-5, 25] dB and the score
    ``1 + 3.5 / (1 + exp(-(snr - 8) / 5))``. Lengths vary in [min, max] seconds.
    Writes ``audio/*.wav`` and ``train.csv`` / ``dev.csv`` / ``test.csv`` (path,
    score, condition, speaker, snr); returns the manifest paths.
    """
    from tfaudio.audio import write_audio
    from tfaudio.systems.qualitynet.manifest import write_manifest

    out_dir = Path(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    manifests = {}
    for split, count in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        rows = []
        for i in range(count):
            n = int(rng.uniform(min_seconds, max_seconds) * sample_rate)
            t = np.arange(n) / sample_rate
            f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
            phase = 2 * np.pi * np.cumsum(f0) / sample_rate
            voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
            env = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6)))
            speech = (0.3 * voiced * env).astype(np.float32)
            if i % 4 == 0:
                x, score, cond, snr = speech, 4.5, "clean", ""
            else:
                snr = float(rng.uniform(-5, 25))
                noise = rng.standard_normal(n).astype(np.float32)
                x = speech + noise * (np.sqrt(np.mean(speech ** 2)) / np.sqrt(np.mean(noise ** 2))
                                      * 10 ** (-snr / 20))
                score, cond = 1 + 3.5 / (1 + np.exp(-(snr - 8) / 5)), "noisy"
            x = (0.9 * x / np.max(np.abs(x))).astype(np.float32)
            rel = f"audio/{split}_{i:03d}.wav"
            write_audio(out_dir / rel, x, sample_rate)
            rows.append({"path": str(out_dir / rel), "score": float(score), "condition": cond,
                         "speaker": f"{split}{i % 3}", "snr": snr})
        manifests[split] = write_manifest(pd.DataFrame(rows), out_dir / f"{split}.csv")
    return manifests
