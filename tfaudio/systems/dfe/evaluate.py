"""DFE evaluation: the paper's Table 1, Table 2 and a Figure-3-style picture.

* Table 1 — clean dev and test accuracy (%) of every trained stage and their
  difference (dev - test), as CSV and Markdown.
* Table 2 — test accuracy (%) with each noise added at each SNR, rows SNR x method,
  columns noise type.
* Figure 3 — one test clip's features: clean, noisy (default pink at 5 dB), and
  the enhanced features of SFE, DCL and DSL (whichever are trained).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

from tfaudio.config import merge
from tfaudio.evaluation.metrics import accuracy
from tfaudio.evaluation.tables import write_table
from tfaudio.systems.dfe.data import DFEData
from tfaudio.systems.dfe import train as T

log = logging.getLogger(__name__)


def figure3(out_path: Path, panels: Dict[str, np.ndarray], title: str) -> Path:
    """Features ``[frames, mels]`` of one clip per panel, stacked, frequency upwards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.7 * len(panels) + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, feat) in zip(axes, panels.items()):
        im = ax.imshow(feat.T, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1)
        ax.set_ylabel("mel band")
        ax.set_title(name, fontsize=9, loc="left")
        fig.colorbar(im, ax=ax, pad=0.01)
    axes[-1].set_xlabel("frame")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path


def evaluate_run(
    run_dir,
    data_dir: Optional[str] = None,
    noise_dir: Optional[str] = None,
    snrs: Optional[Sequence[float]] = None,
    noise_types: Optional[Sequence[str]] = None,
    stages: Optional[Sequence[str]] = None,
    out_dir=None,
    figure_noise: str = "pink",
    figure_snr: float = 5.0,
    figure_clip: int = 0,
    skip_bad_files: bool = False,
    progress: bool = True,
) -> Dict[str, Path]:
    """Evaluate every trained stage of ``run_dir``; returns the files written."""
    run_dir = Path(run_dir)
    cfg = T.load_run_config(run_dir)
    over: dict = {"data": {}}
    if data_dir:
        over["data"]["data_dir"] = str(data_dir)
    if noise_dir:
        over["data"]["noise_dir"] = str(noise_dir)
    if snrs:
        over["data"]["snrs"] = [float(s) for s in snrs]
    if noise_types:
        over["data"]["noise_types"] = list(noise_types)
    if skip_bad_files:
        over["data"]["skip_bad_files"] = True
    cfg = merge(cfg, over)
    trained = T.trained_stages(run_dir)
    stages = [s for s in (stages or T.STAGES) if s in trained]
    if not stages:
        raise T.core.RunDirError(f"{run_dir}: no trained stage to evaluate (train one first)")
    data = DFEData(cfg.data, cfg.frontend, progress=progress)
    out_dir = Path(out_dir) if out_dir else run_dir / "eval"
    models = {s: T.load_stage_model(run_dir, s, cfg, data.num_frames, data.num_features) for s in stages}
    methods = [T.METHOD_NAMES[s] for s in stages]
    written: Dict[str, Path] = {}

    # Table 1: clean dev / test.
    dev, test = data.clean("dev"), data.clean("test")
    t1 = {}
    for s, m in models.items():
        d = 100 * accuracy(T.predict_probs(m, dev["features"]), dev["labels"])
        t = 100 * accuracy(T.predict_probs(m, test["features"]), test["labels"])
        t1[T.METHOD_NAMES[s]] = {"Dev": d, "Test": t, "Difference": d - t}
    table1 = pd.DataFrame(t1)[methods]
    written.update(write_table(table1, out_dir, "table1", decimals=2))

    # Table 2: noise type x SNR x method on the test set.
    rows = []
    noise_files = data.noise_files()
    from tqdm.auto import tqdm

    combos = [(n, snr) for snr in cfg.data.snrs for n in noise_files]
    for noise_path, snr in tqdm(combos, desc="noisy test sets", disable=not progress):
        noisy = data.noisy(noise_path, snr)
        for s, m in models.items():
            acc = 100 * accuracy(T.predict_probs(m, noisy["features"]), noisy["labels"])
            rows.append({"SNR": snr, "Method": T.METHOD_NAMES[s], "Noise": noise_path.stem, "accuracy": acc})
    long = pd.DataFrame(rows)
    table2 = long.pivot_table(index=["SNR", "Method"], columns="Noise", values="accuracy", sort=False)
    table2 = table2.reindex(columns=[p.stem for p in noise_files])
    order = [(snr, m) for snr in cfg.data.snrs for m in methods]
    table2 = table2.reindex(pd.MultiIndex.from_tuples(order, names=["SNR", "Method"]))
    table2["Mean"] = table2.mean(axis=1)
    written.update(write_table(table2, out_dir, "table2", decimals=2))

    # Figure 3: one clip through the enhancers.
    by_stem = {p.stem: p for p in noise_files}
    fig_noise = by_stem.get(figure_noise, noise_files[0])
    noisy = data.noisy(fig_noise, figure_snr)
    i = int(np.clip(figure_clip, 0, len(test["labels"]) - 1))
    panels = {"(a) clean": test["features"][i], f"(b) noisy: {fig_noise.stem} {figure_snr:g} dB": noisy["features"][i]}
    letter = "c"
    for s in ("sfe", "dfe", "cascade", "shared"):
        if s in models:
            out = models[s](noisy["features"][i : i + 1], training=False)
            panels[f"({letter}) {T.METHOD_NAMES[s]} enhanced"] = out["enhanced"].numpy()[0]
            letter = chr(ord(letter) + 1)
    cls = data.class_names[int(test["labels"][i])]
    written["figure3.png"] = figure3(out_dir / "figure3.png", panels, f"test clip {i} ({cls})")
    print("Table 1 (accuracy %):\n" + table1.to_markdown(floatfmt=".2f"))
    print("Table 2 (accuracy %, mean over noises):\n" + table2["Mean"].unstack("Method")[methods].to_markdown(floatfmt=".2f"))
    return written
