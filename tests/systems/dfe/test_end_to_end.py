"""DFE end to end on the embedded data with small widths: all five stages, eval, export."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfaudio.config import merge
from tfaudio.systems.dfe.evaluate import evaluate_run
from tfaudio.export.core import ExportError, run_tflite
from tfaudio.layers.dynamic import resolve_formulation
from tfaudio.systems.dfe.export import best_stage, export_dfe
from tfaudio.training import core
from tfaudio.systems.dfe import run as R
from tfaudio.systems.dfe import train as T

TINY = {
    "data": {"clip_seconds": 1.0, "embedded_clips_per_class_per_fold": 1, "embedded_max_seconds": 1.0,
             "snrs": [10.0, 0.0], "noise_types": ["pink", "babble"]},
    "model": {"classifier_filters": [4, 6, 8, 8, 8], "mask_filters": [4, 6, 6, 6, 1],
              "generator_filters": [4, 6, 8]},
    "train": {"batch_size": 16, "classifier_epochs": 2, "enhancer_epochs": 1},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = merge(T.DFEConfig(), TINY)
    run_dir = tmp_path_factory.mktemp("dfe-run")
    messages = []
    T.train_stage(cfg, "cascade", run_dir, progress=False, say=messages.append)
    T.train_stage(cfg, "shared", run_dir, progress=False, say=messages.append)
    T.train_stage(cfg, "sfe", run_dir, progress=False, say=messages.append)
    return cfg, run_dir, messages


def test_prerequisites_are_trained_first_and_said(run):
    cfg, run_dir, messages = run
    assert any("needs the 'classifier' stage" in m for m in messages)
    assert any("needs the 'dfe' stage" in m for m in messages)
    assert R.trained_stages(run_dir) == list(R.STAGES)
    for s in R.STAGES:
        d = run_dir / s
        assert (d / "config.json").exists() and (d / "best.json").exists() and (d / "metrics.jsonl").exists()
        stage_config = json.loads((d / "config.json").read_text())
        assert stage_config["stage"] == s and stage_config["model"]["dynamic_conv"] == "auto"
        # the formulation "auto" chose on this machine, for the stages with dynamic convs
        assert stage_config.get("dynamic_conv_formulation") == (
            resolve_formulation("auto") if s in ("dfe", "cascade", "shared") else None)
    assert R.load_run_config(run_dir) == merge(cfg, {"model": {"num_classes": 10}})  # from the data
    assert R.recorded_class_names(run_dir) == list(R.CLASSES)


def test_cascade_keeps_the_first_generator_frozen(run):
    cfg, run_dir, _ = run
    dfe = R.load_stage_model(run_dir, "dfe", cfg, 61, 40)
    cascade = R.load_stage_model(run_dir, "cascade", cfg, 61, 40)
    for a, b in zip(dfe.mask_nets[0].weights, cascade.mask_nets[0].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    changed = [not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(cascade.mask_nets[0].trainable_weights, cascade.mask_nets[1].trainable_weights)]
    assert any(changed)
    shared = R.load_stage_model(run_dir, "shared", cfg, 61, 40)
    assert shared.mask_nets[0] is shared.mask_nets[1]


def test_a_trained_stage_is_not_retrained_and_config_must_match(run):
    cfg, run_dir, _ = run
    said = []
    before = (run_dir / "dfe" / "metrics.jsonl").read_text()
    T.train_stage(cfg, "dfe", run_dir, progress=False, say=said.append)
    assert "already trained" in said[0] and (run_dir / "dfe" / "metrics.jsonl").read_text() == before
    other = merge(cfg, {"frontend": {"num_mel_bins": 32}})
    with pytest.raises(core.RunDirError, match="different frontend"):
        T.train_stage(other, "dfe", run_dir, progress=False)


def test_stages_of_one_run_may_differ_in_the_dynamic_conv_formulation_only(tmp_path):
    cfg = merge(T.DFEConfig(), TINY)
    T.check_run_config(tmp_path, cfg)
    T.check_run_config(tmp_path, merge(cfg, {"model": {"dynamic_conv": "grouped"}}))  # same weights: allowed
    with pytest.raises(core.RunDirError, match="different model"):
        T.check_run_config(tmp_path, merge(cfg, {"model": {"mask_filters": [4, 6, 6, 6, 2]}}))
    # a run directory written before the field existed
    old = json.loads((tmp_path / "config.json").read_text())
    del old["model"]["dynamic_conv"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    T.check_run_config(tmp_path, merge(cfg, {"model": {"dynamic_conv": "matmul"}}))
    assert R.load_run_config(tmp_path).model.dynamic_conv == "auto"


def test_evaluation_writes_tables_and_figure(run):
    cfg, run_dir, _ = run
    out = evaluate_run(run_dir, progress=False)
    t1 = pd.read_csv(out["table1.csv"], index_col=0)
    assert list(t1.columns) == ["LogReg (mel stats)", "CNN-FC", "SFE", "DFE", "DCL", "DSL"]
    assert list(t1.index) == ["Dev", "Test", "Difference"]
    np.testing.assert_allclose(t1.loc["Difference"], t1.loc["Dev"] - t1.loc["Test"], atol=0.02)
    assert ((t1.loc[["Dev", "Test"]] >= 0) & (t1.loc[["Dev", "Test"]] <= 100)).all().all()
    t2 = pd.read_csv(out["table2.csv"])
    assert set(t2["SNR"]) == {10.0, 0.0} and set(t2["Method"]) == set(t1.columns)
    assert {"pink", "babble", "Mean", "n"} <= set(t2.columns) and (t2["n"] == 10).all()
    assert out["figure3.png"].stat().st_size > 10_000
    assert "| Dev" in out["table1.md"].read_text()


def test_noisy_test_set_is_deterministic_and_noisier(run):
    from tfaudio.systems.dfe.data import DFEData

    cfg, _, _ = run
    data = DFEData(cfg.data, cfg.frontend, progress=False)
    pink = [p for p in data.noise_files() if p.stem == "pink"][0]
    waves = data.waves("test")
    noise = data.load_noise(pink)
    a = data.noisy_waves(noise, "pink", 0.0, waves.waves, waves.kept, waves.lengths)
    b = data.noisy_waves(noise, "pink", 0.0, waves.waves, waves.kept, waves.lengths)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, waves.waves)


def test_export_best_stage_parity_versions_and_fresh_process(run, tmp_path):
    cfg, run_dir, _ = run
    stage = best_stage(run_dir)
    v1 = export_dfe(run_dir, base_dir=tmp_path)
    assert v1.name == "1" and json.loads((v1 / "export.json").read_text())["stage"] == stage
    meta = json.loads((v1 / "export.json").read_text())
    assert meta["checks"]["tflite_max_abs_diff"] <= 1e-4
    assert meta["config"]["model"]["dynamic_conv"] == "map"  # "auto" is exported as its CPU choice
    assert (v1 / "assets" / "class_names.txt").read_text().split() [0] == "air_conditioner"
    v2 = export_dfe(run_dir, stage="shared", base_dir=tmp_path, tflite=False)
    assert v2.name == "2" and (v1 / "model.tflite").exists()
    with pytest.raises(ExportError, match="never overwritten"):
        export_dfe(run_dir, stage="dfe", base_dir=tmp_path, version=1)
    assert not [p for p in (tmp_path / "dfe").iterdir() if p.name.startswith(".tmp")]

    # TFLite: two different inputs in a row each get their own dynamic kernels
    rng = np.random.default_rng(0)
    clips = [0.3 * rng.standard_normal((1, 16000)).astype(np.float32) for _ in range(2)]
    sm = tf.saved_model.load(str(v1)).signatures["serving_default"]
    for clip in clips:
        lite = run_tflite(v1 / "model.tflite", {"waveform": clip})
        ref = sm(waveform=tf.constant(clip))
        assert np.abs(lite["probabilities"] - ref["probabilities"].numpy()).max() <= 1e-4
        assert np.abs(lite["mask"] - ref["mask"].numpy()).max() <= 1e-4

    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = m(waveform=tf.zeros([3, 12345]))\n"
        "p = out['probabilities'].numpy()\n"
        "assert p.shape == (3, 10) and np.allclose(p.sum(-1), 1, atol=1e-5)\n"
        "print(out['class_name'].numpy()[0].decode())\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(v1)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] in (v1 / "assets" / "class_names.txt").read_text().split()


def test_exports_through_the_harness(run, tmp_path):
    from tests import harness

    cfg, run_dir, _ = run
    last = harness.check_export_versioning(
        lambda base, v: export_dfe(run_dir, stage="dfe", base_dir=base, version=v, tflite=v is None),
        tmp_path, "dfe")
    clip = 0.3 * np.random.default_rng(1).standard_normal((2, 16000)).astype(np.float32)
    out = harness.check_reload_in_fresh_process(last, {"waveform": clip})
    assert out["probabilities"].shape == (2, 10)
    assert harness.check_tflite_parity(last, {"waveform": clip[:1]}, tol=1e-4) <= 1e-4
    assert harness.check_serving_artifacts(last, "dfe", "dfe") == 2  # TF Serving warmup, documented signature


def test_load_model_gives_the_best_stage(run):
    from tfaudio.systems.dfe.export import load_model

    cfg, run_dir, _ = run
    model, loaded = load_model(run_dir, stage="dfe")
    assert loaded.frontend == cfg.frontend and loaded.model.num_classes == 10 and len(model.mask_nets) == 1
    out = model(np.zeros([2, 61, 40], np.float32))
    assert out["probs"].shape == (2, 10)
