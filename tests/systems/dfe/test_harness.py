"""DFE through the shared harness: help, config round trip, exact resume, exports."""
import json

import pytest

from tests import harness

TINY = {
    "data": {"clip_seconds": 1.0, "embedded_clips_per_class_per_fold": 1, "embedded_max_seconds": 1.0,
             "snrs": [10.0], "noise_types": ["pink"]},
    "model": {"classifier_filters": [4, 6, 8, 8, 8], "mask_filters": [4, 6, 6, 6, 1],
              "generator_filters": [4, 6, 8]},
    "train": {"batch_size": 16, "classifier_epochs": 4, "enhancer_epochs": 3},
}


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_help_of_every_command():
    harness.check_help("tfaudio.cli.train", "dfe", ["--stage", "cascade", "--resume", "--skip-bad-files"])
    harness.check_help("tfaudio.cli.evaluate", "dfe", ["--noise-dir"])
    harness.check_help("tfaudio.cli.export", "dfe", ["--stage"])


def test_config_round_trip():
    from tfaudio.config import merge
    from tfaudio.systems.dfe.config import DFEConfig

    harness.check_config_roundtrip(merge(DFEConfig(), TINY))


def test_bad_set_value_is_one_line(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["dfe", "--run-dir", tmp_path, "--set", "train.batch_size=many"])
    harness.assert_user_error(res, "train.batch_size")
    res = harness.run_cli("tfaudio.cli.train", ["dfe", "--run-dir", tmp_path, "--set", "model.dynamic_conv=loop"])
    harness.assert_user_error(res, "model.dynamic_conv must be one of")


@pytest.mark.slow
def test_classifier_resume_after_kill_is_exact(recipe, tmp_path):
    """CNN-FC has dropout: its draws must not depend on where the run was interrupted."""
    harness.check_resume_exact(["dfe", "--stage", "classifier", "--config", recipe], "classifier",
                               tmp_path, epochs=4)


@pytest.mark.slow
def test_shared_weight_stage_resume_after_kill_is_exact(recipe, tmp_path):
    """DSL: the prerequisite classifier is trained first by the same command; the kill
    lands in the enhancer stage, whose resume must still be exact."""
    harness.check_resume_exact(["dfe", "--stage", "shared", "--config", recipe], "shared", tmp_path, epochs=3,
                               kills=((1, 0.0), (2, 0.5)))
