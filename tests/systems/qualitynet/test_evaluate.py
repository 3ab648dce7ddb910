"""Quality-Net evaluation: metrics against scipy, frame variance, files of an
evaluated run, and a Table-1 ablation on a tiny model."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tfaudio.systems.qualitynet import evaluate as E
from tfaudio.systems.qualitynet import families as F
from tfaudio.systems.qualitynet import run as R



def test_metrics_match_scipy_overall_and_per_condition():
    rng = np.random.default_rng(0)
    true = rng.uniform(1, 4.5, 60)
    pred = true + rng.normal(0, 0.4, 60)
    cond = np.array(["clean", "noisy", "enhanced"] * 20)
    m = E.regression_metrics(true, pred)
    assert m["n"] == 60
    assert m["mse"] == pytest.approx(np.mean((true - pred) ** 2), rel=1e-12)
    assert m["lcc"] == pytest.approx(stats.pearsonr(true, pred)[0], rel=1e-12)
    assert m["srcc"] == pytest.approx(stats.spearmanr(true, pred)[0], rel=1e-12)
    table = E.metrics_by_condition(true, pred, cond)
    assert list(table.index) == ["all", "clean", "noisy", "enhanced"]
    for c in ("clean", "noisy", "enhanced"):
        s = cond == c
        assert table.loc[c, "n"] == 20
        assert table.loc[c, "MSE"] == pytest.approx(np.mean((true[s] - pred[s]) ** 2))
        assert table.loc[c, "LCC"] == pytest.approx(stats.pearsonr(true[s], pred[s])[0])
        assert table.loc[c, "SRCC"] == pytest.approx(stats.spearmanr(true[s], pred[s])[0])


def test_metric_edge_cases():
    m = E.regression_metrics([4.6, 4.6, 4.6], [4.0, 4.2, 4.4])  # constant truth (clean only)
    assert np.isnan(m["lcc"]) and np.isnan(m["srcc"]) and m["mse"] == pytest.approx((0.36 + 0.16 + 0.04) / 3)
    with pytest.raises(ValueError, match="not finite"):
        E.regression_metrics([1, 2], [1, np.nan])


def test_frame_score_variance_is_mean_of_per_utterance_variances():
    frames = [np.array([4.0, 4.2, 3.8]), np.array([1.0, 3.0]), np.array([2.0, 2.0, 2.0, 6.0])]
    clean = np.array([True, False, True])
    expected = (np.var([4.0, 4.2, 3.8]) + np.var([2.0, 2.0, 2.0, 6.0])) / 2
    assert E.frame_score_variance(frames, clean) == pytest.approx(expected)
    assert np.isnan(E.frame_score_variance(frames, np.zeros(3, bool)))


def test_condition_families_of_a_hand_made_manifest():
    rows = pd.DataFrame({
        "path": ["/d/a.wav", "/d/b.wav", "/d/c.wav", "/d/d.wav", "/d/e.wav", "/d/f.wav",
                 "/d/g.wav", "/d/h.wav", "/d/i.wav", "/d/j.wav", "/d/k.wav"],
        "condition": ["clean", "noisy", "noisy", "enhanced", "babble_-5dB", "babble_10dB",
                      "AMR-NB_12k2", "opus_6k", "unknown", "unknown", "reverb_0.5"],
        "noise": ["", "street", "white", "street", "", "", "", "", "", "", ""],
        "snr": [np.nan, 5.0, 0.0, 5.0, np.nan, np.nan, np.nan, np.nan, 10.0, np.nan, np.nan],
        "source": ["/s/a.wav", "/s/b.wav", "/s/c.wav", "/s/d.wav", "", "", "", "", "",
                   "/d/j.wav", ""],
    })
    fams = F.condition_families(rows)
    assert list(fams) == ["clean", "noisy: street", "noisy: white", "enhanced", "noisy: babble",
                          "noisy: babble", "codec", "codec", "noisy", "clean", "reverb"]
    # Only a condition column: still grouped
    assert list(F.condition_families(rows[["condition"]])) == [
        "clean", "noisy", "noisy", "enhanced", "noisy: babble", "noisy: babble", "codec", "codec",
        "unknown", "unknown", "reverb"]
    # More families than allowed: the rarest become "other", the frequent ones stay.
    many = pd.DataFrame({"condition": ["clean"] * 5 + ["enhanced"] * 4
                         + [f"noise{i}_{s}dB" for i in range(12) for s in (0, 5)]})
    capped = F.condition_families(many, max_families=4)
    assert len(set(capped)) == 4 and "other" in set(capped)
    assert set(capped[:9]) == {"clean", "enhanced"}
    assert (capped == "other").sum() == 24 - 2
    # Table rows: all + each family, one per model, n in every row
    true = np.linspace(1, 4.5, len(rows))
    table = E.metrics_by_group(true, {"net": true + 0.1, "ridge": true[::-1]}, fams)
    assert table.loc[("all", "net"), "n"] == 11 and table.loc[("noisy: babble", "ridge"), "n"] == 2
    assert list(table.index.get_level_values(0).unique()) == [
        "all", "clean", "noisy", "noisy: babble", "noisy: street", "noisy: white", "enhanced",
        "codec", "reverb"]
    assert table.loc[("all", "net"), "MSE"] == pytest.approx(0.01)
    assert table.loc[("all", "ridge"), "LCC"] == pytest.approx(-1.0)


def test_partial_noise_region_and_frames():
    x = (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    noisy, (a, b) = E.partial_noise(x, 16000)
    assert (a, b) == (4800, 11200)
    np.testing.assert_array_equal(noisy[:a], x[:a])
    np.testing.assert_array_equal(noisy[b:], x[b:])
    seg = noisy[a:b] - x[a:b]
    snr = 10 * np.log10(np.mean(x[a:b] ** 2) / np.mean(seg ** 2))
    assert snr == pytest.approx(E.PROBE_SNR_DB, abs=0.1)
    sel = E.frames_of_region(a, b, 1 + 16000 // 256, 256)
    assert sel.sum() == len(range(19, 44)) and sel[19] and not sel[18] and sel[43] and not sel[44]


@pytest.fixture(scope="module")
def tiny_run(tiny_qualitynet_run):
    return tiny_qualitynet_run


def test_evaluate_run_writes_metrics_and_figures(tiny_run):
    run, toy = tiny_run
    res = E.evaluate_run(run, toy["test"], progress=False)
    files = res["files"]
    for name in ("metrics.csv", "metrics.md", "metrics.json", "metrics_by_condition.md",
                 "predictions.csv", "scatter.png", "frames.png"):
        assert files[name].exists() and files[name].stat().st_size > 0
        assert files[name].parent == run / "eval"
    preds = pd.read_csv(files["predictions.csv"])
    assert len(preds) == 8 and np.all(np.isfinite(preds["pred"]))
    metrics = json.loads(files["metrics.json"].read_text())
    assert metrics["overall"]["lcc"] == pytest.approx(stats.pearsonr(preds["true"], preds["pred"])[0], rel=1e-6)
    assert metrics["overall"]["srcc"] == pytest.approx(stats.spearmanr(preds["true"], preds["pred"])[0], rel=1e-6)
    clean = preds["condition"] == "clean"
    assert metrics["frame_variance_clean"] == pytest.approx(preds.loc[clean, "frame_variance"].mean(), rel=1e-5)
    assert set(metrics["by_condition"]) == {"clean", "noisy"}
    assert np.isfinite(metrics["noisy-region drop"]) and np.isfinite(metrics["clean-region drop"])
    md = files["metrics.md"].read_text()
    assert "| family" in md and "baseline: ridge on spectral statistics" in md
    assert "| condition" in files["metrics_by_condition.md"].read_text()
    # the toy manifest has condition + snr but no noise column: clean and noisy families
    assert set(metrics["by_family"]) == {"clean", "noisy"}
    assert set(preds["family"]) == {"clean", "noisy"}
    table = res["table"]
    for fam in ("all", "clean", "noisy"):
        assert {m for f, m in table.index if f == fam} == {E.NETWORK, "baseline: ridge on spectral statistics"}
        assert table.loc[(fam, E.NETWORK), "n"] == table.loc[(fam, "baseline: ridge on spectral statistics"), "n"]
    assert table.loc[("all", E.NETWORK), "n"] == 8
    # the baseline row is the ridge fitted on the run's training manifest (10 utterances)
    base = metrics["baseline"]
    assert base["n_train"] == 10 and base["n_dev"] == 4 and base["overall"]["n"] == 8
    assert base["overall"]["mse"] == pytest.approx(np.mean((preds["true"] - preds["baseline_pred"]) ** 2), rel=1e-6)
    assert metrics["overall"]["mse"] != pytest.approx(base["overall"]["mse"])


def test_table1_trains_the_missing_ablation_and_reuses_the_main_run(tiny_run):
    run, toy = tiny_run
    said = []
    res = E.table1(run, toy["test"], progress=False, say=said.append)
    table = res["table"]
    assert list(table.index) == ["without constraint", "with constraint",
                                 "baseline: ridge on spectral statistics"]
    assert list(table["n"]) == [8, 8, 8]
    assert np.isnan(table.loc["baseline: ridge on spectral statistics", "frame variance (clean)"])
    assert table.loc["with constraint", "run"] == str(run)  # same config as the main run
    sub = run / "ablations" / "table1" / "without_constraint"
    assert table.loc["without constraint", "run"] == str(sub)
    assert R.load_run_config(sub).model.frame_constraint is False
    for col in ("MSE", "LCC", "SRCC"):
        assert np.all(np.isfinite(table[col].astype(float)))
    assert np.all(np.isfinite(table["frame variance (clean)"].iloc[:2].astype(float)))
    for name in ("table1.csv", "table1.md", "fig2_frames.png"):
        assert res["files"][name].exists()
    assert "0.2468" in res["files"]["table1.md"].read_text()  # paper values shown for reference
    # a second call trains nothing
    said.clear()
    E.table1(run, toy["test"], progress=False, say=said.append)
    assert not any("training" in s for s in said)


def test_evaluate_without_baseline_flag(tiny_run, tmp_path):
    import argparse

    from tfaudio.systems.qualitynet import cli as C

    p = argparse.ArgumentParser()
    C.add_eval_args(p)
    assert p.parse_args(["--no-baseline"]).no_baseline and not p.parse_args([]).no_baseline
    run, toy = tiny_run
    res = E.evaluate_run(run, toy["test"], out_dir=tmp_path, progress=False, baseline=False)
    assert "baseline" not in res["metrics"]
    assert set(res["table"].index.get_level_values("model")) == {E.NETWORK}
    assert "baseline" not in (tmp_path / "metrics.md").read_text()
    assert "baseline_pred" not in pd.read_csv(tmp_path / "predictions.csv").columns
