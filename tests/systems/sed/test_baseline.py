"""The frame-level logistic-regression reference: its training rows, a fit without
warnings, and its rows in Table 1 / the domain-gap table scored by the same scorer."""
import warnings

import numpy as np
import pytest

from tfaudio.systems.sed import baseline as B
from tfaudio.systems.sed.data import Part


def _part(name, n, frames, mels, K, strong, seed=0):
    rng = np.random.default_rng(seed)
    out = frames // 2
    clip_t = (rng.random((n, K)) < 0.4).astype(np.float32)
    frame_t = np.repeat(clip_t[:, None, :], out, 1) * (rng.random((n, out, K)) < 0.5)
    arrays = dict(features=rng.standard_normal((n, frames, mels)).astype(np.float16) + 3 * frame_t.repeat(2, 1)[..., :1],
                  frame_target=frame_t.astype(np.float32), frame_mask=np.full((n, out, K), float(strong), np.float32),
                  clip_target=clip_t, clip_mask=np.ones((n, K), np.float32), domain=np.zeros(n, np.float32))
    return Part(name, [f"{name}{i}.wav" for i in range(n)], arrays)


def test_rows_strong_frames_and_weak_labels_broadcast():
    S, W = _part("s", 3, 8, 5, 2, strong=True), _part("w", 2, 8, 5, 2, strong=False, seed=1)
    x, y = B.training_rows([S, W], pool=2, out_frames=4)
    assert x.shape == (5 * 4, 5) and y.shape == (5 * 4, 2)
    assert np.array_equal(y[:12], S.arrays["frame_target"].reshape(-1, 2))
    assert np.array_equal(y[12:], np.repeat(W.arrays["clip_target"], 4, axis=0))  # clip labels on every frame
    assert np.allclose(x[:4], S.arrays["features"][0].astype(np.float32).reshape(4, 2, 5).mean(1))


def test_fit_is_bounded_and_warning_free():
    S, W = _part("s", 40, 64, 6, 3, strong=True), _part("w", 30, 64, 6, 3, strong=False, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning (or any other) fails the test
        lr = B.fit([S, W], pool=2, out_frames=32, max_frames=500, seed=0)
    assert lr.n_frames == 500 and lr.n_available == 70 * 32
    p = lr.predict(S)
    assert p.shape == (40, 32, 3) and np.all((p > 0) & (p < 1))
    # the feature it was given separates the labelled frames of class 0
    t = S.arrays["frame_target"][..., 0] > 0
    assert p[..., 0][t].mean() > p[..., 0][~t].mean() + 0.2


def test_row_in_both_tables_from_the_same_scorer(tiny_sed_run, tmp_path):
    import pandas as pd

    from tfaudio.config import merge
    from tfaudio.systems.sed import model as M
    from tfaudio.systems.sed import run as R
    from tfaudio.systems.sed.data import SEDData
    from tfaudio.systems.sed.evaluate import evaluate_run, score_part

    said = []
    written = evaluate_run(tiny_sed_run, out_dir=tmp_path, plots=0, progress=False, say=said.append)
    t1 = pd.read_csv(written["table1.csv"], index_col=0)
    gap = pd.read_csv(written["domain_gap.csv"], index_col=0)
    assert B.NAME in t1.index and B.NAME in gap.index
    row = t1.loc[B.NAME]
    assert row["n clips"] == 4 and np.isnan(row["Paper event F1 (%)"])
    # its numbers are those of scoring its predictions directly
    cfg, classes = R.load_run_config(tiny_sed_run)
    cfg = merge(cfg, {"data": {"skip_bad_files": False}})
    data = SEDData(cfg, progress=False)
    sets = data.sets()
    lr = B.fit([sets["S"], sets["W"]], M.time_pool(cfg.model), data.out_frames, seed=cfg.data.seed)
    direct = score_part(lr.predict(sets["validation"]), sets["validation"], classes, data.hop,
                        cfg.data.clip_seconds, cfg.post)
    assert row["Event F1 (%)"] == pytest.approx(100 * direct["event_f1"], abs=1e-9)
    assert row["Segment F1 (%)"] == pytest.approx(100 * direct["segment_f1"], abs=1e-9)
    assert row["PSDS1"] == pytest.approx(direct["psds1"], abs=1e-9, nan_ok=True)
    syn = score_part(lr.predict(sets["synthetic_dev"]), sets["synthetic_dev"], classes, data.hop,
                     cfg.data.clip_seconds, cfg.post)
    assert gap.loc[B.NAME, "Synthetic segment F1 (%)"] == pytest.approx(100 * syn["segment_f1"], abs=1e-9)
    assert gap.loc[B.NAME, "n synthetic"] == syn["n_clips"]
    # the number of training frames is stated, in the output and under the table
    n_line = f"fit on {lr.n_frames} of {lr.n_available} training frames"
    assert any(n_line in s for s in said), said
    assert f"fit on {lr.n_frames} training frames" in written["table1.md"].read_text()
