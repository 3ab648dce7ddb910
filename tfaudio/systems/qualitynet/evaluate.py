"""Quality-Net evaluation: metrics, the paper's Tables 1-2 and Figures 2-4.

Metrics (between true and predicted utterance scores, section 3):

* MSE, LCC (Pearson, ``scipy.stats.pearsonr``) and SRCC (Spearman,
  ``scipy.stats.spearmanr``), overall and per condition family
  (:func:`condition_families`: clean / noisy: <noise type> / codec / enhanced ...,
  with n in every row; one row per raw ``condition`` value in a separate table);
* the variance of the frame scores on clean speech (Table 1's last column): for
  every clean utterance the variance of ``q_t`` over its valid frames, averaged
  over the clean utterances.

Frame-level behaviour (Figure 3, section 2.2) is also put into numbers: the
clean utterances get street noise (0 dB, measured over the noisy region) in their
middle 40 % and are scored again. ``noisy-region drop`` is how much the mean
``q_t`` inside the noisy region falls (the model sees the noise),
``clean-region drop`` how much it falls on the untouched frames around it (the
context leak a small forget-gate bias is meant to limit).

Every table also has a row ``baseline: ridge on spectral statistics``
(:mod:`tfaudio.systems.qualitynet.baseline`): a ridge regression on simple
per-utterance spectral statistics fitted on the run's own training set, its
strength chosen on the run's dev set, scored on the same test set.

:func:`evaluate_run` writes into ``<run_dir>/eval/``: ``metrics.csv/.md`` (family x
model), ``metrics_by_condition.csv/.md``, ``metrics.json``, ``predictions.csv``,
``scatter.png`` (Fig. 4: predicted vs true coloured by family) and ``frames.png``
(Figs. 2-3: spectrogram with the frame scores below, a clean utterance and its
partially noisy version). :func:`table1` and :func:`table2` train the ablation
runs they need under ``<run_dir>/ablations/`` (reusing the main run where its
config matches) and write ``table1.*`` / ``table2.*`` with ``fig2_frames.png`` /
``fig3_frames.png``.

This module imports only numpy / scipy / pandas at import time (the training
module uses :func:`regression_metrics`); TensorFlow comes with the functions that
need a model.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

import numpy as np
import pandas as pd

from tfaudio.evaluation import tables
from tfaudio.evaluation.metrics import regression_metrics  # noqa: F401  (used by callers too)
from tfaudio.evaluation.plots import save_figure
from tfaudio.systems.qualitynet.config import default_config
from tfaudio.systems.qualitynet.families import MAX_FAMILIES, cap_groups, condition_families, family_order
from tfaudio.systems.qualitynet.plots import frame_plot, pyplot

log = logging.getLogger(__name__)

#: Paper values (Table 1) shown under our Table 1 for comparison.
PAPER_TABLE1 = {
    "without constraint": {"MSE": 0.1441, "LCC": 0.8559, "SRCC": 0.8607, "frame variance (clean)": 4.1128},
    "with constraint": {"MSE": 0.1266, "LCC": 0.8749, "SRCC": 0.8807, "frame variance (clean)": 0.2468},
}
DEFAULT_FORGET_BIASES = (1.0, -1.0, -3.0)
CLEAN = "clean"
#: Partial-noise probe (Fig. 3): noise type, SNR and the noisy fraction of the utterance.
PROBE_NOISE, PROBE_SNR_DB, PROBE_REGION = "street", 0.0, (0.3, 0.7)
#: At most this many clean utterances are probed.
PROBE_MAX = 24


# ==================================================================================
# Metrics
# ==================================================================================
def metrics_by_condition(true, pred, conditions) -> pd.DataFrame:
    """Rows ``all`` + one per condition; columns n, MSE, LCC, SRCC."""
    true, pred = np.asarray(true), np.asarray(pred)
    conditions = np.asarray(conditions).astype(str)
    rows = {"all": regression_metrics(true, pred)}
    for cond in sorted(set(conditions), key=_condition_order):
        sel = conditions == cond
        rows[cond] = regression_metrics(true[sel], pred[sel])
    df = pd.DataFrame(rows).T[["n", "mse", "lcc", "srcc"]]
    df.columns = ["n", "MSE", "LCC", "SRCC"]
    df["n"] = df["n"].astype(int)
    df.index.name = "condition"
    return df


def _condition_order(c: str):
    order = {"clean": 0, "noisy": 1, "enhanced": 2}
    return (order.get(c, 3), c)


def metrics_by_group(true, preds: Mapping[str, np.ndarray], groups, group_name: str = "family",
                     order=family_order) -> pd.DataFrame:
    """Rows (group, model) for ``all`` and each group, every model of ``preds``
    (name -> predictions) per group; columns n, MSE, LCC, SRCC and the mean true and
    predicted score (where LCC is undefined, e.g. clean speech all labelled 4.64, the
    mean prediction still shows how close to the top the model scores it)."""
    true = np.asarray(true)
    groups = np.asarray(groups).astype(str)
    rows = {}
    for g in ["all"] + sorted(set(groups) - {"all"}, key=order):
        sel = np.ones(len(true), bool) if g == "all" else groups == g
        for name, pred in preds.items():
            p = np.asarray(pred)[sel]
            rows[(g, name)] = {**regression_metrics(true[sel], p),
                               "true": float(np.mean(true[sel])) if sel.any() else float("nan"),
                               "pred": float(np.mean(p)) if p.size else float("nan")}
    df = pd.DataFrame(rows).T[["n", "mse", "lcc", "srcc", "true", "pred"]]
    df.columns = ["n", "MSE", "LCC", "SRCC", "mean true", "mean predicted"]
    df["n"] = df["n"].astype(int)
    for c in ("MSE", "LCC", "SRCC", "mean true", "mean predicted"):
        df[c] = df[c].astype(float)
    df.index = pd.MultiIndex.from_tuples(list(rows), names=[group_name, "model"])
    return df


def lcc_difference_table(true, pred, baseline_pred, groups, resamples: int = 2000,
                         seed: int = 0) -> pd.DataFrame:
    """Per group (``all`` first): n, the network's and the baseline's LCC, their
    difference and its paired-bootstrap 95 % interval."""
    from tfaudio.evaluation.metrics import paired_bootstrap_lcc_difference

    true, pred, baseline_pred = (np.asarray(v, np.float64) for v in (true, pred, baseline_pred))
    groups = np.asarray(groups).astype(str)
    rows = {}
    for g in ["all"] + sorted(set(groups) - {"all"}, key=family_order):
        sel = np.ones(len(true), bool) if g == "all" else groups == g
        d = paired_bootstrap_lcc_difference(true[sel], pred[sel], baseline_pred[sel],
                                            resamples=resamples, seed=seed)
        a = regression_metrics(true[sel], pred[sel])["lcc"]
        b = regression_metrics(true[sel], baseline_pred[sel])["lcc"]
        rows[g] = {"n": d["n"], "LCC network": a, "LCC baseline": b, "difference": d["diff"],
                   "95% low": d["low"], "95% high": d["high"]}
    df = pd.DataFrame(rows).T
    df["n"] = df["n"].astype(int)
    df.index.name = "family"
    return df


def frame_score_variance(frame_scores: Sequence[np.ndarray], select=None) -> float:
    """Mean over the selected utterances of the variance of ``q_t`` over valid frames."""
    chosen = [np.asarray(q, np.float64) for i, q in enumerate(frame_scores)
              if (select is None or select[i]) and q is not None and len(q) > 0]
    return float(np.mean([q.var() for q in chosen])) if chosen else float("nan")


NAN_NOTE = ("nan = undefined (LCC / SRCC of fewer than two items or of constant scores, "
            "e.g. clean speech all labelled with the top PESQ).")


def write_table(df: pd.DataFrame, out_dir, name: str, note: str = "", index: bool = True) -> Dict[str, Path]:
    """The shared table writer, with a line explaining NaN cells when there are any."""
    if df.isna().any().any():
        note = NAN_NOTE + "\n" + note
    return tables.write_table(df, out_dir, name, note=note, index=index)


# ==================================================================================
# Figures
# ==================================================================================
def scatter_plot(true, pred, conditions, path, title: str = "",
                 max_groups: int = MAX_FAMILIES) -> Path:
    """Predicted vs true score, one colour per group, metrics in the legend (Fig. 4).

    ``conditions`` are the colour groups (normally :func:`condition_families`); beyond
    ``max_groups`` the rarest are drawn together as "other" so the legend stays short.
    """
    plt = pyplot()
    true, pred = np.asarray(true), np.asarray(pred)
    conditions = cap_groups(conditions, max_groups)
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    lo = float(min(true.min(), pred.min())) - 0.1
    hi = float(max(true.max(), pred.max())) + 0.1
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=1, ls="--", zorder=0)
    colours = plt.get_cmap("tab10").colors
    for k, cond in enumerate(sorted(set(conditions), key=family_order)):
        sel = conditions == cond
        m = regression_metrics(true[sel], pred[sel])
        ax.scatter(true[sel], pred[sel], s=14, alpha=0.75, color=colours[k % len(colours)],
                   label=f"{cond} (n={m['n']}, LCC={m['lcc']:.3f})")
    m = regression_metrics(true, pred)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("true score")
    ax.set_ylabel("predicted score (Quality-Net)")
    ax.set_title(title or f"MSE {m['mse']:.4f}  LCC {m['lcc']:.4f}  SRCC {m['srcc']:.4f}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path, dpi=120)


# ==================================================================================
# Partial-noise probe (Fig. 3)
# ==================================================================================
def partial_noise(wave: np.ndarray, sample_rate: int = 16000, region=PROBE_REGION,
                  snr_db: float = PROBE_SNR_DB, noise: str = PROBE_NOISE, seed: int = 0):
    """``wave`` with ``noise`` added in its ``region`` (fractions) at ``snr_db`` measured
    over that region -> (noisy wave, (first sample, end sample))."""
    from tfaudio.audio import mix_at_snr
    from tfaudio.datasets.noise import synth_noise

    n = len(wave)
    a, b = int(region[0] * n), max(int(region[1] * n), int(region[0] * n) + 1)
    noise_wave = synth_noise(noise, seconds=(b - a) / sample_rate + 0.1, sample_rate=sample_rate, seed=seed)
    out = np.array(wave, np.float32, copy=True)
    out[a:b] = mix_at_snr(out[a:b], noise_wave, snr_db)
    return out, (a, b)


def frames_of_region(start: int, end: int, num_frames: int, frame_step: int) -> np.ndarray:
    """Bool ``[num_frames]``: frames whose centre (``t * frame_step``, centred frames)
    falls in samples ``[start, end)``."""
    centres = np.arange(num_frames) * frame_step
    return (centres >= start) & (centres < end)


def probe_partial_noise(score_fn, waves: Sequence[np.ndarray], frame_step: int = 256,
                        sample_rate: int = 16000) -> Dict[str, float]:
    """Mean drop of ``q_t`` inside / outside a noisy region (see module docstring).

    ``score_fn(list of waves) -> list of frame-score arrays``.
    """
    if not waves:
        return {"noisy-region drop": float("nan"), "clean-region drop": float("nan")}
    noisy, regions = zip(*(partial_noise(w, sample_rate, seed=i) for i, w in enumerate(waves)))
    q_clean = score_fn(list(waves))
    q_noisy = score_fn(list(noisy))
    inside, outside = [], []
    for qc, qn, (a, b) in zip(q_clean, q_noisy, regions):
        sel = frames_of_region(a, b, len(qc), frame_step)
        inside.append(float(np.mean(qc[sel] - qn[sel])))
        outside.append(float(np.mean(qc[~sel] - qn[~sel])))
    return {"noisy-region drop": float(np.mean(inside)), "clean-region drop": float(np.mean(outside))}


# ==================================================================================
# Evaluating models and runs
# ==================================================================================
@dataclasses.dataclass
class ModelResult:
    pred: np.ndarray
    frames: List[np.ndarray]
    table: pd.DataFrame  # metrics_by_condition
    frame_variance_clean: float
    probe: Dict[str, float]


def _clean_probe_waves(qset, sample_rate: int = 16000) -> List[np.ndarray]:
    """Clean utterances of the set (condition 'clean'; else the clean sources it names)."""
    from tfaudio.systems.qualitynet.data import decode_waves

    conds = qset.conditions
    waves = [w for w, c in zip(qset.waves, conds) if c == CLEAN][:PROBE_MAX]
    if waves or "source" not in qset.rows.columns:
        return waves
    sources = [s for s in dict.fromkeys(qset.rows["source"].astype(str)) if s][:PROBE_MAX]
    got, _ = decode_waves(sources, sample_rate, skip_bad=True, progress=False)
    return [w for w in got if w is not None]


def evaluate_model(model, qset, batch_size: int = 16, probe_waves=None) -> ModelResult:
    """Scores of ``qset`` with ``model`` and every metric of this module."""
    from tfaudio.systems.qualitynet.run import predict, predict_fn

    fn = predict_fn(model)
    pred, frames = predict(model, qset.waves, batch_size, fn=fn)
    table = metrics_by_condition(qset.scores, pred, qset.conditions)
    var = frame_score_variance(frames, qset.conditions == CLEAN)
    if probe_waves is None:
        probe_waves = _clean_probe_waves(qset, model.config.sample_rate)
    probe = probe_partial_noise(lambda ws: predict(model, ws, batch_size, fn=fn)[1], probe_waves,
                                model.config.frame_step, model.config.sample_rate)
    return ModelResult(pred, frames, table, var, probe)


def resolve_test_manifest(manifest=None, progress: bool = True) -> Path:
    """``manifest`` or the embedded set's ``test.csv``."""
    if manifest is not None:
        return Path(manifest)
    from tfaudio.systems.qualitynet.data import embedded_manifests

    return embedded_manifests(progress)["test"]


def _example_index(qset) -> int:
    conds = qset.conditions
    clean = np.flatnonzero(conds == CLEAN)
    return int(clean[0]) if len(clean) else int(np.argmax(qset.scores))


NETWORK = "Quality-Net"


def evaluate_run(run_dir, manifest=None, out_dir=None, skip_bad: bool = False,
                 progress: bool = True, qset=None, baseline: bool = True) -> Dict[str, object]:
    """Evaluate a trained run's best checkpoint on ``manifest`` (default: embedded test).

    ``metrics.md/.csv`` hold one row per (condition family, model): the network and,
    with ``baseline``, the ridge baseline of :mod:`tfaudio.systems.qualitynet.baseline`
    fitted on the run's own training / dev data; ``metrics_by_condition.md/.csv`` the
    same for every fine-grained ``condition`` value.

    Returns ``{"metrics": {...}, "files": {name: path}}``.
    """
    from tfaudio.systems.qualitynet.data import load_quality_set, score_range_max
    from tfaudio.systems.qualitynet.run import load_trained_model

    run_dir = Path(run_dir)
    model, cfg = load_trained_model(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "eval"
    manifest = resolve_test_manifest(manifest, progress)
    if qset is None:
        qset = load_quality_set(manifest, cfg.model.sample_rate, skip_bad=skip_bad,
                                progress=progress, name="test",
                                max_score=score_range_max(cfg.model),
                                min_samples=cfg.model.frame_length)
    res = evaluate_model(model, qset, cfg.train.eval_batch_size)
    preds = {NETWORK: res.pred}
    base = None
    if baseline:
        from tfaudio.systems.qualitynet.baseline import fit_run_baseline

        base = fit_run_baseline(cfg, progress)
        preds[base.name] = base.predict(qset.waves)
    families = condition_families(qset.rows)
    by_family = metrics_by_group(qset.scores, preds, families, "family")
    by_condition = metrics_by_group(qset.scores, preds, qset.conditions, "condition",
                                    order=_condition_order)
    files: Dict[str, Path] = {}
    note = (f"Run `{run_dir}` (best epoch by {cfg.train.monitor}), test manifest `{manifest}`. "
            f"n = test utterances in the row.\n"
            f"Families group the manifest's conditions (clean / noisy: <noise type> / codec / "
            f"enhanced ...; see `condition_families`); metrics_by_condition.md has one row "
            f"per condition value.\n"
            + (base.describe() + "\n" if base is not None else "")
            + f"Variance of frame quality in clean speech: {res.frame_variance_clean:.4f} "
            f"(paper, with constraint: 0.2468).\n"
            f"Partial street noise (0 dB, middle 40 %) on clean utterances: mean frame score drops "
            f"{res.probe['noisy-region drop']:.3f} inside the noisy region and "
            f"{res.probe['clean-region drop']:.3f} on the clean frames around it.")
    files.update(write_table(by_family, out_dir, "metrics", note=note))
    if base is not None:
        gap = lcc_difference_table(qset.scores, res.pred, preds[base.name], families)
        files.update(write_table(gap, out_dir, "lcc_difference", note=(
            f"LCC of {NETWORK} minus LCC of {base.name} on the same test utterances, with the "
            f"paired-bootstrap 95 % interval (2,000 resamples of the row's utterances, "
            f"percentile method, scipy.stats.bootstrap); n = utterances. An interval above 0 "
            f"shows the network better on that family.")))
    files.update(write_table(by_condition, out_dir, "metrics_by_condition",
                             note=f"Run `{run_dir}`, test manifest `{manifest}`; one row per "
                                  f"`condition` value, n = utterances."))
    table = qset.rows[["path", "condition"]].copy()
    table["family"] = families
    table["true"] = qset.scores
    table["pred"] = res.pred
    if base is not None:
        table["baseline_pred"] = preds[base.name]
    table["frames"] = [len(q) for q in res.frames]
    table["frame_variance"] = [float(np.var(q)) for q in res.frames]
    table.to_csv(out_dir / "predictions.csv", index=False)
    files["predictions.csv"] = out_dir / "predictions.csv"
    files["scatter.png"] = scatter_plot(qset.scores, res.pred, families, out_dir / "scatter.png")
    files["frames.png"] = _example_figure(out_dir / "frames.png", {"Quality-Net": model}, qset,
                                          cfg.train.eval_batch_size)

    def records(df, model_name):
        return {g: {k.lower().replace(" ", "_"): v for k, v in df.loc[(g, model_name)].items()}
                for g in df.index.get_level_values(0).unique() if g != "all"}

    metrics = {
        "run_dir": str(run_dir), "manifest": str(manifest), "skipped": qset.skipped,
        "overall": {k.lower(): v for k, v in res.table.loc["all"].items()},
        "by_condition": {c: {k.lower(): v for k, v in r.items()} for c, r in res.table.iterrows() if c != "all"},
        "by_family": records(by_family, NETWORK),
        "all": {k.lower().replace(" ", "_"): v for k, v in by_family.loc[("all", NETWORK)].items()},
        "frame_variance_clean": res.frame_variance_clean, **res.probe,
    }
    if base is not None:
        metrics["lcc_difference"] = {g: {k.lower().replace(" ", "_"): v for k, v in r.items()}
                                     for g, r in gap.iterrows()}
    if base is not None:
        metrics["baseline"] = {
            **base.to_dict(),
            "overall": {k.lower().replace(" ", "_"): v for k, v in by_family.loc[("all", base.name)].items()},
            "by_family": records(by_family, base.name),
        }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    files["metrics.json"] = out_dir / "metrics.json"
    return {"metrics": metrics, "files": files, "table": by_family}


def _example_figure(path, models: Mapping[str, object], qset, batch_size: int,
                    title: str = "") -> Path:
    """Figs. 2-3 in one: a clean utterance and its partially noisy version, scored by
    each model (curves), frame scores under the spectrograms."""
    from tfaudio.systems.qualitynet.run import predict

    wave = qset.waves[_example_index(qset)]
    first = next(iter(models.values()))
    sr, step = first.config.sample_rate, first.config.frame_step
    noisy, (a, b) = partial_noise(wave, sr)
    curves_clean, curves_noisy = {}, {}
    for name, model in models.items():
        _, frames = predict(model, [wave, noisy], batch_size)
        curves_clean[name], curves_noisy[name] = frames
    sel = np.flatnonzero(frames_of_region(a, b, len(curves_clean[name]), step))
    cond = qset.conditions[_example_index(qset)]
    items = [(f"(a) {cond} utterance {Path(qset.paths[_example_index(qset)]).name}", wave, curves_clean),
             (f"(b) the same with {PROBE_NOISE} noise at {PROBE_SNR_DB:g} dB in frames "
              f"{sel[0]}-{sel[-1]} (dashed)", noisy, curves_noisy)]
    return frame_plot(path, items, sr, first.config.frame_length, step, title=title,
                      shade=(int(sel[0]), int(sel[-1])))


# ==================================================================================
# Ablations: Table 1 (frame constraint) and Table 2 (forget-gate bias)
# ==================================================================================
def _ablation_table(run_dir, variants, table: str, manifest=None, out_dir=None, epochs=None,
                    skip_bad=False, progress=True, say=print, figure_models=None, note="",
                    baseline: bool = True):
    from tfaudio.systems.qualitynet import run as R
    from tfaudio.systems.qualitynet.ablations import ablation_runs
    from tfaudio.systems.qualitynet.data import load_quality_set, score_range_max
    from tfaudio.systems.qualitynet.run import load_trained_model

    run_dir = Path(run_dir)
    runs = ablation_runs(run_dir, variants, table, epochs, progress, say)
    manifest = resolve_test_manifest(manifest, progress)
    out_dir = Path(out_dir) if out_dir else run_dir / "eval"
    qset, probe_waves, rows, models = None, None, {}, {}
    for name, sub in runs.items():
        model, cfg = load_trained_model(sub)
        if qset is None:
            qset = load_quality_set(manifest, cfg.model.sample_rate, skip_bad=skip_bad,
                                    progress=progress, name="test",
                                    max_score=score_range_max(cfg.model),
                                    min_samples=cfg.model.frame_length)
            probe_waves = _clean_probe_waves(qset, cfg.model.sample_rate)
        res = evaluate_model(model, qset, cfg.train.eval_batch_size, probe_waves)
        all_ = res.table.loc["all"]
        rows[name] = {"n": int(all_["n"]), "MSE": all_["MSE"], "LCC": all_["LCC"],
                      "SRCC": all_["SRCC"],
                      "frame variance (clean)": res.frame_variance_clean, **res.probe,
                      "epochs": cfg.train.epochs, "run": str(sub)}
        models[name] = model
    base_note = ""
    if baseline:
        from tfaudio.systems.qualitynet.baseline import fit_run_baseline

        base_cfg = R.load_run_config(run_dir) if (R.stage_dir(run_dir) / "config.json").exists() else default_config()
        base = fit_run_baseline(base_cfg, progress)
        m = regression_metrics(qset.scores, base.predict(qset.waves))
        rows[base.name] = {"n": m["n"], "MSE": m["mse"], "LCC": m["lcc"], "SRCC": m["srcc"],
                           "frame variance (clean)": np.nan,
                           **{k: np.nan for k in next(iter(rows.values())) if "drop" in k},
                           "epochs": np.nan, "run": ""}
        base_note = "\n" + base.describe() + " It gives no frame scores (NaN columns)."
    df = pd.DataFrame(rows).T
    df.index.name = "model"
    for c in df.columns:
        if c not in ("run",):
            df[c] = pd.to_numeric(df[c])
    df["n"] = df["n"].astype(int)
    df["epochs"] = df["epochs"].astype("Int64")  # <NA> on the baseline row
    files = write_table(df, out_dir, table, note=note + base_note
                        + f"\nTest manifest: `{manifest}`; n = test utterances.")
    fig_name = {"table1": "fig2_frames.png", "table2": "fig3_frames.png"}[table]
    chosen = {k: models[k] for k in (figure_models or models) if k in models}
    files[fig_name] = _example_figure(out_dir / fig_name, chosen, qset, 16,
                                      title=f"Frame scores: {', '.join(chosen)}")
    return {"table": df, "files": files}


def table1(run_dir, manifest=None, out_dir=None, epochs=None, skip_bad=False, progress=True, say=print,
           baseline: bool = True):
    """Table 1: with vs without the frame constraint (+ Fig. 2)."""
    variants = {"without constraint": {"model": {"frame_constraint": False}},
                "with constraint": {"model": {"frame_constraint": True}}}
    paper = pd.DataFrame(PAPER_TABLE1).T
    note = ("Paper (TIMIT, PESQ labels), Table 1:\n\n" + paper.to_markdown(floatfmt=".4f") + "\n\n"
            "Frame variance = mean over clean test utterances of the variance of q_t; the drops "
            "are from the partial-noise probe (module docstring of tfaudio.systems.qualitynet.evaluate).")
    return _ablation_table(run_dir, variants, "table1", manifest, out_dir, epochs, skip_bad,
                           progress, say, note=note, baseline=baseline)


def table2(run_dir, forget_biases: Sequence[float] = DEFAULT_FORGET_BIASES, manifest=None,
           out_dir=None, epochs=None, skip_bad=False, progress=True, say=print,
           baseline: bool = True):
    """Table 2: forget-gate bias initial values (+ Fig. 3 with the largest and smallest)."""
    variants = {f"Fgb = {b:g}": {"model": {"forget_bias": float(b)}} for b in forget_biases}
    names = list(variants)
    by_value = sorted(zip(forget_biases, names))
    fig = [by_value[-1][1], by_value[0][1]] if len(by_value) > 1 else names
    note = ("Fgb = initial forget-gate bias of both LSTM directions (paper: 1 vs -3, -3 kept). "
            "Utterance-level metrics should barely move; a smaller Fgb should keep the "
            "clean-region drop (context leak of a noisy region into clean frames) small.")
    return _ablation_table(run_dir, variants, "table2", manifest, out_dir, epochs, skip_bad,
                           progress, say, figure_models=fig, note=note, baseline=baseline)
