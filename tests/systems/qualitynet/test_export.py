"""Quality-Net export: versioned SavedModel (3 signatures) + TFLite (+ quantized),
checked on write, reloaded in a fresh process, never overwritten."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfaudio.export.core import ExportError
from tfaudio.systems.qualitynet.export import export_qualitynet, newest_export
from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer
from tfaudio.training import core
from tfaudio.systems.qualitynet import run as R



@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_qualitynet_run):
    root = tmp_path_factory.mktemp("qexport")
    run_dir, toy = tiny_qualitynet_run
    (root / "run").symlink_to(run_dir, target_is_directory=True)
    path = export_qualitynet(root / "run", base_dir=root / "models", quantize=("float16", "int8"),
                             manifest=toy["test"])
    return root, path, toy


def _clip(seconds, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.05 * rng.standard_normal(n)).astype(np.float32)


def test_layout_and_recorded_checks(exported):
    root, path, _ = exported
    assert path == root / "models" / "qualitynet" / "1" and newest_export(root / "models") == path
    for name in ("saved_model.pb", "model.tflite", "model_float16.tflite", "model_int8.tflite",
                 "export.json", "assets/README.txt"):
        assert (path / name).is_file(), name
    meta = json.loads((path / "export.json").read_text())
    checks = meta["checks"]
    assert checks["tflite"]["max_abs_diff_vs_saved_model"]["score"] <= 1e-3
    assert checks["tflite"]["lengths_s"] == [1.0, 5.0]
    assert any(k.startswith("clip0_") for k in checks["inputs"])  # real clips were checked
    assert {"silence_1s", "noise_5s", "tone_5s"} <= set(checks["inputs"])
    for q in ("float16", "int8"):
        c = checks[f"tflite_{q}"]
        assert np.isfinite(c["max_abs_score_error"]) and c["bytes"] < checks["tflite"]["bytes"]
    assert meta["config"]["model"]["lstm_units"] == 8 and meta["model"] == "qualitynet"
    # no leftovers of the atomic write
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]


def test_serving_warmup_and_documented_signatures(exported):
    from tests import harness

    _, path, _ = exported
    assert harness.check_serving_artifacts(path, "qualitynet", "qualitynet") == 8  # 4 signatures x 2
    assert json.loads((path / "export.json").read_text())["serving_warmup"]["replayed"] == 8


def test_float16_model_is_finite_on_digital_silence(exported):
    _, path, _ = exported
    scorer = TFLiteQualityScorer(path / "model_float16.tflite")
    assert np.isfinite(scorer(np.zeros(8000, np.float32))["score"])


RELOAD = r"""
import json, sys
import numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
out = {k: sorted(m.signatures) for k in ["signatures"]}
out["score"] = m.signatures["serving_default"](waveform=tf.constant(x))["score"].numpy().tolist()
fr = m.signatures["frame_scores"](waveform=tf.constant(x))
out["frames_shape"] = list(fr["frame_scores"].shape)
pad = m.signatures["padded_scores"](waveform=tf.constant(x), lengths=tf.constant([x.shape[1], 4000], tf.int32))
out["padded"] = pad["score"].numpy().tolist()
out["short"] = m.signatures["serving_default"](waveform=tf.constant(x[1:, :4000]))["score"].numpy().tolist()
print(json.dumps(out))
"""


def test_saved_model_reloads_in_a_fresh_process(exported, tmp_path):
    _, path, _ = exported
    x = np.stack([_clip(1.5, 1), _clip(1.5, 2)])
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", RELOAD, str(path), str(tmp_path / "x.npy")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["signatures"] == ["frame_scores", "padded_scores", "serving_default", "stream"]
    assert out["frames_shape"] == [2, 1 + x.shape[1] // 256]
    # the same numbers as the trained checkpoint and as the TFLite file
    model, _ = R.load_trained_model(path.parent.parent.parent / "run")
    ref = model(x)["score"].numpy()
    np.testing.assert_allclose(out["score"], ref, atol=1e-5)
    lite = TFLiteQualityScorer(path / "model.tflite")
    for i in range(2):
        assert abs(lite(x[i])["score"] - out["score"][i]) < 1e-3
    # padded batch: row 1 padded from 4000 samples scores like the 4000-sample clip alone
    assert out["padded"][0] == pytest.approx(out["score"][0], abs=1e-5)
    assert out["padded"][1] == pytest.approx(out["short"][0], abs=1e-5)


def test_versions_are_never_overwritten_and_untrained_runs_refused(exported, tmp_path):
    root, path, _ = exported
    with pytest.raises(ExportError, match="exists"):
        export_qualitynet(root / "run", base_dir=root / "models", version=1, tflite=False)
    with pytest.raises(ExportError, match="quantization"):
        export_qualitynet(root / "run", base_dir=tmp_path, quantize=("int4",))
    with pytest.raises(core.RunDirError):
        export_qualitynet(tmp_path / "nothing", base_dir=tmp_path)
    assert sorted(p.name for p in (root / "models" / "qualitynet").iterdir()) == ["1"]


def test_load_model_scores_a_waveform(tiny_qualitynet_run):
    from tfaudio.systems.qualitynet.export import load_model

    run_dir, _ = tiny_qualitynet_run
    model, cfg = load_model(run_dir)
    out = model(np.zeros([1, 16000], np.float32) + 0.01)
    assert cfg.model.lstm_units == 8 and np.isfinite(out["score"].numpy()).all()
