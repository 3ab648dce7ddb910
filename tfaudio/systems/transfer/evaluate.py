"""Tables 2 and 3 and Figures 2 and 3 of a trained run directory.

Every number comes from a stage's ``results.json`` (written when the stage finished
training, see :mod:`.train`); SER figures are means over the LOSO folds that were
run (their count is in the table). Each table carries our base model, simple
baselines fit on the same training split and scored on the same dev / test sets,
and the paper's numbers beside ours.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pandas as pd

from tfaudio.config import write_json_atomic
from tfaudio.errors import RunDirError
from tfaudio.evaluation.plots import pyplot, save_figure
from tfaudio.evaluation.tables import write_table
from tfaudio.systems.transfer import data as D
from tfaudio.systems.transfer import scoring
from tfaudio.systems.transfer import run as R
from tfaudio.systems.transfer.config import LAYERS
from tfaudio.systems.transfer.data import Corpora
from tfaudio.training import core

log = logging.getLogger(__name__)

#: The paper's Table 2 (SER -> ASR): l -> (FER dev, FER test, PER dev, PER test), in %.
PAPER_TABLE2 = {"base": (30.53, 31.61, 18.71, 20.18), 5: (71.09, 71.64, 61.15, 61.82), 4: (53.26, 53.92, 42.96, 44.13),
                3: (40.29, 40.97, 28.81, 30.48), 2: (31.75, 32.87, 20.08, 21.85), 1: (30.83, 32.01, 18.99, 20.94),
                0: (30.62, 31.65, 18.73, 20.57)}
#: The paper's Table 3 (ASR -> SER): l -> (E dev, E test, UE dev, UE test), in %.
PAPER_TABLE3 = {"base": (44.63, 46.44, 46.34, 48.96), 5: (52.55, 59.20, 62.50, 64.03), 4: (51.94, 53.34, 56.21, 56.18),
                3: (50.22, 52.01, 54.18, 54.37), 2: (47.39, 48.50, 47.72, 49.82), 1: (46.37, 48.36, 47.61, 50.57),
                0: (45.26, 46.97, 46.60, 48.95)}
ASR_COLS = ("fer_dev", "fer_test", "per_dev", "per_test")
SER_COLS = ("e_dev", "e_test", "ue_dev", "ue_test", "utt_e_dev", "utt_e_test", "utt_ue_dev", "utt_ue_test")
NAMES = {"fer_dev": "FER dev (%)", "fer_test": "FER test (%)", "per_dev": "PER dev (%)", "per_test": "PER test (%)",
         "e_dev": "E dev (%)", "e_test": "E test (%)", "ue_dev": "UE dev (%)", "ue_test": "UE test (%)",
         "utt_e_dev": "utt. E dev (%)", "utt_e_test": "utt. E test (%)", "utt_ue_dev": "utt. UE dev (%)",
         "utt_ue_test": "utt. UE test (%)"}


def _results(run_dir: Path, stage: str) -> Optional[dict]:
    p = run_dir / stage / "results.json"
    return json.loads(p.read_text()) if p.exists() and core.stage_complete(run_dir / stage) else None


def _pct(d: dict, cols) -> dict:
    return {NAMES[c]: 100.0 * float(d[c]) if d.get(c) is not None else float("nan") for c in cols}


def asr_baselines(cfg, corpora: Corpora) -> Dict[str, dict]:
    """Majority state and frame-level logistic regression, FER and PER (same decoder)."""
    sets = corpora.asr()
    k = len(D.ASR_CLASSES)
    dec = corpora.decoder()
    out = {}
    post = {n: scoring.majority_posteriors(sets["train"], sets[n], k) for n in ("dev", "test")}
    out["Baseline: majority state"] = scoring.asr_scores(post, sets, dec, cfg.decoder)
    post = scoring.logreg_frame_posteriors(sets["train"], {n: sets[n] for n in ("dev", "test")}, k, cfg.train.seed)
    out["Baseline: LogReg (log-mel frame)"] = scoring.asr_scores(post, sets, dec, cfg.decoder)
    return out


def ser_baselines(cfg, corpora: Corpora, folds) -> Dict[str, dict]:
    """Per fold, averaged: majority class (frames; utterances: majority emotion) and
    logistic regression on utterance log-mel statistics (the project's mel-stats
    baseline, utterance level)."""
    maj, lr = [], []
    for f in folds:
        sets = corpora.sets("ser", f)
        post = {n: scoring.majority_posteriors(sets["train"], sets[n], len(D.SER_CLASSES)) for n in ("dev", "test")}
        r = scoring.ser_scores(post, sets)
        emo = int(np.argmax(np.bincount(sets["train"].extra["emotion"], minlength=4)))
        for n in ("dev", "test"):
            ref = np.asarray(sets[n].extra["emotion"])
            pred = np.full(len(ref), emo)
            r[f"utt_e_{n}"], r[f"utt_ue_{n}"] = scoring.error(pred, ref), scoring.unweighted_error(pred, ref)
        maj.append(r)
        lr.append(scoring.utterance_logreg_scores(sets, cfg.train.seed))
    return {"Baseline: majority class": _mean(maj), "Baseline: LogReg (utterance mel stats)": _mean(lr)}


def _mean(rows):
    keys = set().union(*[r.keys() for r in rows])
    return {k: float(np.mean([r[k] for r in rows if isinstance(r.get(k), (int, float))]))
            for k in keys if any(isinstance(r.get(k), (int, float)) for r in rows)}


def table2(run_dir: Path, cfg, corpora: Corpora, out_dir: Path) -> dict:
    base = _results(run_dir, R.stage_name("asr", None))
    if base is None:
        raise RunDirError(f"{run_dir}: the ASR base model is not trained (tfaudio-train transfer --stage base --task asr)")
    rows, n = {}, {}
    rows["Our base model (ASR)"], n["Our base model (ASR)"] = _pct(base, ASR_COLS), base
    paper = {"Our base model (ASR)": PAPER_TABLE2["base"]}
    for name, r in asr_baselines(cfg, corpora).items():
        rows[name], n[name], paper[name] = _pct(r, ASR_COLS), r, (np.nan,) * 4
    curve = {}
    for l in range(LAYERS, -1, -1):
        r = _results(run_dir, R.stage_name("asr", None, "ser", l))
        if r is None:
            continue
        name = f"l = {l}"
        rows[name], n[name], paper[name] = _pct(r, ASR_COLS), r, PAPER_TABLE2[l]
        curve[l] = r
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "SER -> ASR (constant layers)"
    for i, c in enumerate(ASR_COLS):
        df[f"paper {NAMES[c]}"] = [paper[k][i] for k in df.index]
    df["n dev utt."] = [int(n[k]["n_dev_utterances"]) for k in df.index]
    df["n test utt."] = [int(n[k]["n_test_utterances"]) for k in df.index]
    note = (f"FER over the 144 HMM-state frame labels ({base['n_dev_frames']} dev / {base['n_test_frames']} test "
            f"frames); PER over the 39-phone references ({base['n_dev_phones']} dev / {base['n_test_phones']} test "
            f"phones), acoustic scale and insertion penalty tuned on dev. Frame labels: "
            f"{'monophone GMM-HMM state alignment' if cfg.data.alignment == 'gmm' else 'equal thirds of each phone'} "
            f"(data.alignment = {cfg.data.alignment}). The SER base model is that of fold {cfg.data.ser_base_fold}. "
            f"Data: {cfg.data.timit_dir or 'embedded TIMIT-layout corpus'}. Paper columns: the paper's TIMIT numbers.")
    paths = write_table(df, out_dir, "table2", note=note, decimals=2)
    return {"paths": paths, "curve": curve, "base": base}


def table3(run_dir: Path, cfg, corpora: Corpora, out_dir: Path) -> dict:
    folds = [f.index for f in corpora.folds()]
    base_rows = [r for r in (_results(run_dir, R.stage_name("ser", f)) for f in folds) if r is not None]
    if not base_rows:
        raise RunDirError(f"{run_dir}: no SER base model is trained (tfaudio-train transfer --stage base --task ser)")
    rows, counts, paper = {}, {}, {}
    rows["Our base model (SER)"], counts["Our base model (SER)"] = _pct(_mean(base_rows), SER_COLS), len(base_rows)
    paper["Our base model (SER)"] = PAPER_TABLE3["base"]
    done = [f for f in folds if _results(run_dir, R.stage_name("ser", f)) is not None]
    for name, r in ser_baselines(cfg, corpora, done).items():
        rows[name], counts[name], paper[name] = _pct(r, SER_COLS), len(done), (np.nan,) * 4
    curve = {}
    for l in range(LAYERS, -1, -1):
        rs = [r for r in (_results(run_dir, R.stage_name("ser", f, "asr", l)) for f in folds) if r is not None]
        if not rs:
            continue
        name = f"l = {l}"
        rows[name], counts[name], paper[name] = _pct(_mean(rs), SER_COLS), len(rs), PAPER_TABLE3[l]
        curve[l] = _mean(rs)
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "ASR -> SER (constant layers)"
    for i, c in enumerate(("e_dev", "e_test", "ue_dev", "ue_test")):
        df[f"paper {NAMES[c]}"] = [paper[k][i] for k in df.index]
    df["n folds"] = [int(counts[k]) for k in df.index]
    b0 = base_rows[0]
    note = (f"Means over the LOSO folds run (n folds; {len(folds)} configured), test = the held-out speaker, dev = "
            f"session(s) {list(cfg.data.dev_sessions)}. E / UE: frame-level over 5 classes (4 emotions + silence "
            f"from the energy VAD, {cfg.data.vad_db:g} dB below the loudest frame); utt. E / UE: 4 emotions, "
            f"majority of the non-silent frame decisions. UE = 1 - unweighted average recall. Fold 0 sizes: "
            f"{b0['n_dev_utterances']} dev / {b0['n_test_utterances']} test utterances, {b0['n_dev_frames']} / "
            f"{b0['n_test_frames']} frames. The ASR base model's frame labels: data.alignment = "
            f"{cfg.data.alignment}. Data: {cfg.data.iemocap_dir or 'embedded IEMOCAP-layout corpus'}. "
            f"Paper columns: the paper's IEMOCAP numbers (frame level).")
    paths = write_table(df, out_dir, "table3", note=note, decimals=2)
    return {"paths": paths, "curve": curve, "base": _mean(base_rows)}


def figure3(t2: Optional[dict], t3: Optional[dict], out: Path) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, t, keys, title in ((axes[0], t2, ("per_dev", "per_test", "fer_test"), "SER -> ASR"),
                               (axes[1], t3, ("e_dev", "e_test", "ue_test"), "ASR -> SER")):
        ax.set_title(title)
        ax.set_xlabel("constant layers l")
        ax.set_ylabel("error (%)")
        if not t or not t["curve"]:
            ax.text(0.5, 0.5, "not trained", ha="center", transform=ax.transAxes)
            continue
        ls = sorted(t["curve"])
        for k in keys:
            line, = ax.plot(ls, [100 * t["curve"][l][k] for l in ls], marker="o", label=NAMES[k])
            ax.axhline(100 * t["base"][k], color=line.get_color(), ls=":", lw=1)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return save_figure(fig, out)


def figure2(run_dir: Path, cfg, out: Path) -> Path:
    """First-layer filters (conv1 kernels, mel bands x frames) of both base models."""
    plt = pyplot()
    models = []
    for task, stage in (("asr", R.stage_name("asr", None)), ("ser", R.stage_name("ser", cfg.data.ser_base_fold))):
        if core.stage_complete(run_dir / stage):
            m = R.load_stage_model(run_dir, cfg, task, stage)
            models.append((task.upper(), m.blocks["conv1"].conv.kernel.numpy()[:, :, 0, :]))
    if not models:
        raise RunDirError(f"{run_dir}: no base model trained, so no filters to show")
    n = models[0][1].shape[-1]
    cols = min(n, 8)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 0.9, rows * 1.3), squeeze=False)
    for j, (name, k) in enumerate(models):
        for i in range(rows * cols):
            ax = axes[i // cols, j * cols + i % cols]
            ax.axis("off")
            if i < k.shape[-1]:
                ax.imshow(k[:, :, i], origin="lower", aspect="auto", cmap="RdBu_r")
        axes[0, j * cols].set_title(name, loc="left", fontsize=9)
    return save_figure(fig, out)


def evaluate_run(run_dir, out_dir=None, target: Optional[str] = None, progress: bool = True, say=print,
                 skip_bad: bool = False) -> dict:
    """Write Table 2 (``target`` asr), Table 3 (ser) or both, and Figures 2 and 3;
    ``skip_bad``: a bad audio file is a listed skip instead of an error naming it."""
    run_dir = Path(run_dir)
    cfg = R.load_run_config(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "eval"
    corpora = Corpora(cfg, progress, skip_bad)
    paths, t2, t3 = {}, None, None
    if target in (None, "asr"):
        t2 = table2(run_dir, cfg, corpora, out)
        paths.update(t2["paths"])
    if target in (None, "ser"):
        t3 = table3(run_dir, cfg, corpora, out)
        paths.update(t3["paths"])
    paths["figure3.png"] = figure3(t2, t3, out / "figure3.png")
    paths["figure2.png"] = figure2(run_dir, cfg, out / "figure2.png")
    write_json_atomic(out / "summary.json", {"table2": t2 and {str(k): v for k, v in t2["curve"].items()},
                                             "table3": t3 and {str(k): v for k, v in t3["curve"].items()}})
    return paths
