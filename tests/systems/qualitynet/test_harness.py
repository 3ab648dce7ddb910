"""Quality-Net through the shared harness: help, config round trip, exact resume, exports."""
import json

import numpy as np
import pytest

from tests import harness
from tests.conftest import QUALITYNET_TINY_MODEL
from tests.systems.qualitynet.toy import make_toy_manifests


def test_help_of_every_command():
    harness.check_help("tfaudio.cli.train", "qualitynet", ["--manifest", "--resume", "--skip-bad-files"])
    harness.check_help("tfaudio.cli.evaluate", "qualitynet", ["--table"])
    harness.check_help("tfaudio.cli.export", "qualitynet", ["--quantize"])


def test_config_round_trip():
    from tfaudio.systems.qualitynet import train as T

    harness.check_config_roundtrip(T.default_config())


def test_bad_set_value_is_one_line(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["qualitynet", "--run-dir", tmp_path, "--set", "model.nope=1"])
    harness.assert_user_error(res, "nope")


@pytest.mark.slow
def test_resume_after_kill_is_exact(tmp_path):

    toy = make_toy_manifests(tmp_path / "data", n_train=16, n_dev=4, n_test=4)
    recipe = tmp_path / "tiny.json"
    recipe.write_text(json.dumps({"model": QUALITYNET_TINY_MODEL, "train": {"epochs": 4, "batch_size": 4}}))
    harness.check_resume_exact(["qualitynet", "--manifest", toy["train"], "--dev", toy["dev"], "--config", recipe],
                               "train", tmp_path, epochs=4)


def test_exports_through_the_harness(tiny_qualitynet_run, tmp_path):
    from tfaudio.systems.qualitynet.export import export_qualitynet

    run_dir, toy = tiny_qualitynet_run
    last = harness.check_export_versioning(
        lambda base, v: export_qualitynet(run_dir, base_dir=base, version=v, tflite=v is None,
                                          manifest=toy["test"]),
        tmp_path, "qualitynet")
    wave = (0.2 * np.random.default_rng(2).standard_normal((1, 16000))).astype(np.float32)
    out = harness.check_reload_in_fresh_process(last, {"waveform": wave})
    assert np.isfinite(out["score"]).all()
    assert harness.check_tflite_parity(last, {"waveform": wave}, tol=1e-3) <= 1e-3
