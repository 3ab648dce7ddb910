"""DFE evaluation: the paper's Table 1, Table 2 and a Figure-3-style picture.

* Table 1 — clean dev and test accuracy (%) of every trained stage and their
  difference (dev - test), as CSV and Markdown.
* Table 2 — test accuracy (%) with each noise added at each SNR, rows SNR x method,
  columns noise type, plus the mean and n.
* Figure 3 — one test clip's features: clean, noisy (default pink at 5 dB; when that
  noise is not used, the first noise in sorted name order, logged), and the enhanced
  features of SFE, DCL and DSL (whichever are trained).

Both tables carry a baseline (logistic regression on per-clip mel-band statistics,
:mod:`tfaudio.evaluation.baselines`) computed on the same clips, and state n; the
Markdown note under Table 2 says over which samples the SNR was measured.
Unreadable or silent noise files are errors naming the file, or with
``skip_bad_files`` skipped and listed (log and Table 2 note).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

from tfaudio.config import merge
from tfaudio.evaluation.plots import save_figure
from tfaudio.evaluation.baselines import MelStatsLogReg
from tfaudio.data import pipeline
from tfaudio.evaluation.metrics import accuracy
from tfaudio.evaluation.tables import write_table
from tfaudio.systems.dfe.data import DFEData
from tfaudio.systems.dfe import run as R
from tfaudio.systems.dfe.config import METHOD_NAMES, STAGES
from tfaudio.training import core

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
    return save_figure(fig, out_path, dpi=120)


def pick_figure_noise(noise_files: Sequence[Path], requested: str) -> Path:
    """The requested noise if present, else the first in sorted name order (logged)."""
    by_stem = {p.stem: p for p in noise_files}
    if requested in by_stem:
        log.info("Figure 3 noise: %s", requested)
        return by_stem[requested]
    chosen = sorted(by_stem)[0]
    log.warning("Figure 3 noise %r is not among the noises used (%s); using %r, the first in sorted order",
                requested, ", ".join(sorted(by_stem)), chosen)
    return by_stem[chosen]


def snr_note(reference: str) -> str:
    if reference == "clip":
        return ("SNR measured over each clip's own samples (before zero padding to the clip length); "
                "the noise covers the whole padded clip at that level.")
    return ("SNR measured over the whole zero-padded clip (padding included: for clips shorter than "
            "the clip length the noise is quieter than stated relative to the event itself); the noise "
            "covers the whole padded clip.")


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
    snr_reference: Optional[str] = None,
) -> Dict[str, Path]:
    """Evaluate every trained stage of ``run_dir``; returns the files written.

    Every table carries a baseline row/column (:class:`MelStatsLogReg`, fit on the
    run's training split) and states n, the number of clips evaluated.
    ``snr_reference`` ("clip" or "padded") overrides the run's ``data.snr_reference``.
    """
    run_dir = Path(run_dir)
    cfg = R.load_run_config(run_dir)
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
    if snr_reference:
        over["data"]["snr_reference"] = snr_reference
    cfg = merge(cfg, over)
    trained = R.trained_stages(run_dir)
    stages = [s for s in (stages or STAGES) if s in trained]
    if not stages:
        raise core.RunDirError(f"{run_dir}: no trained stage to evaluate (train one first)")
    class_names = R.recorded_class_names(run_dir)
    data = DFEData(cfg.data, cfg.frontend, progress=progress, class_names=class_names)
    out_dir = Path(out_dir) if out_dir else run_dir / "eval"
    models = {s: R.load_stage_model(run_dir, s, cfg, data.num_frames, data.num_features) for s in stages}
    methods = [METHOD_NAMES[s] for s in stages]
    written: Dict[str, Path] = {}

    train = data.clean("train")
    baseline = MelStatsLogReg(seed=cfg.train.seed).fit(train["features"], train["labels"])
    base = baseline.name
    all_methods = [base] + methods

    def scores(features, labels) -> Dict[str, float]:
        out = {base: 100 * accuracy(baseline.predict(features), labels)}
        for s, m in models.items():
            out[METHOD_NAMES[s]] = 100 * accuracy(R.predict_probs(m, features), labels)
        return out

    # Table 1: clean dev / test.
    dev, test = data.clean("dev"), data.clean("test")
    n_dev, n_test, n_train = len(dev["labels"]), len(test["labels"]), len(train["labels"])
    dev_acc, test_acc = scores(dev["features"], dev["labels"]), scores(test["features"], test["labels"])
    t1 = {m: {"Dev": dev_acc[m], "Test": test_acc[m], "Difference": dev_acc[m] - test_acc[m]}
          for m in all_methods}
    table1 = pd.DataFrame(t1)[all_methods]
    classes = f"{len(data.class_names)} classes: {', '.join(data.class_names)}."
    baseline_note = (f"{base}: logistic regression on the per-clip mean and std of every mel band of the "
                     f"same features, fit on the {n_train} training clips.")
    note1 = (f"Accuracy (%). n = {n_dev} dev clips, {n_test} test clips (split {cfg.data.split!r}). "
             f"{baseline_note} {classes}")
    skipped_clips = [(part, p, r) for part, d in (("train", train), ("dev", dev), ("test", test))
                     for p, r in pipeline.skipped_of(d)]
    if skipped_clips:
        note1 += (f" Skipped {len(skipped_clips)} unreadable clip(s), not counted in n: "
                  + "; ".join(f"{Path(p).name} ({part}: {r})" for part, p, r in skipped_clips) + ".")
    written.update(write_table(table1, out_dir, "table1", note=note1, decimals=2))

    # Table 2: noise type x SNR x method on the test set.
    rows = []
    noise_files, skipped = data.usable_noise_files()
    from tqdm.auto import tqdm

    combos = [(n, snr) for snr in cfg.data.snrs for n in noise_files]
    spent = {"features": 0.0, "models": 0.0}
    for noise_path, snr in tqdm(combos, desc="noisy test sets", disable=not progress):
        t0 = time.perf_counter()
        noisy = data.noisy(noise_path, snr)
        t1 = time.perf_counter()
        for method, acc in scores(noisy["features"], noisy["labels"]).items():
            rows.append({"SNR": snr, "Method": method, "Noise": noise_path.stem, "accuracy": acc})
        spent["features"] += t1 - t0
        spent["models"] += time.perf_counter() - t1
    log.info("noisy test sets: %d noise/SNR pairs x %d clips; per pair %.2f s building features "
             "(mix + front-end, or the cache), %.2f s running %d model(s)", len(combos), n_test,
             spent["features"] / max(len(combos), 1), spent["models"] / max(len(combos), 1),
             len(all_methods))
    long = pd.DataFrame(rows)
    table2 = long.pivot_table(index=["SNR", "Method"], columns="Noise", values="accuracy", sort=False)
    table2 = table2.reindex(columns=[p.stem for p in noise_files])
    order = [(snr, m) for snr in cfg.data.snrs for m in all_methods]
    table2 = table2.reindex(pd.MultiIndex.from_tuples(order, names=["SNR", "Method"]))
    table2["Mean"] = table2.mean(axis=1)
    table2["n"] = n_test
    note2 = (f"Test accuracy (%) with noise added; n = {n_test} test clips in every cell. "
             f"{snr_note(cfg.data.snr_reference)} {baseline_note}")
    if skipped:
        note2 += " Skipped noise files: " + "; ".join(f"{Path(p).name} ({r})" for p, r in skipped) + "."
    written.update(write_table(table2, out_dir, "table2", note=note2, decimals=2))

    # Figure 3: one clip through the enhancers.
    fig_noise = pick_figure_noise(noise_files, figure_noise)
    noisy = data.noisy(fig_noise, figure_snr)
    i = int(np.clip(figure_clip, 0, len(test["labels"]) - 1))
    panels = {"(a) clean": test["features"][i], f"(b) noisy: {fig_noise.stem} {figure_snr:g} dB": noisy["features"][i]}
    letter = "c"
    for s in ("sfe", "dfe", "cascade", "shared"):
        if s in models:
            out = models[s](noisy["features"][i : i + 1], training=False)
            panels[f"({letter}) {METHOD_NAMES[s]} enhanced"] = out["enhanced"].numpy()[0]
            letter = chr(ord(letter) + 1)
    cls = data.class_names[int(test["labels"][i])]
    written["figure3.png"] = figure3(out_dir / "figure3.png", panels, f"test clip {i} ({cls})")
    print(f"Table 1 (accuracy %, n = {n_dev} dev / {n_test} test clips):\n" + table1.to_markdown(floatfmt=".2f"))
    print(f"Table 2 (accuracy %, mean over noises, n = {n_test} test clips; SNR reference: "
          f"{cfg.data.snr_reference}):\n" + table2["Mean"].unstack("Method")[all_methods].to_markdown(floatfmt=".2f"))
    return written
