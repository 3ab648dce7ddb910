"""The transfer commands over bad audio: without --skip-bad-files a corrupt, empty or
non-audio file is one line naming it (exit 2, see also test_harness); with it the
file is a listed skip (path and reason, counted) in training and evaluation."""
from __future__ import annotations

import pytest

from tests import harness
from tests.systems.transfer.test_harness import run_inproc


@pytest.fixture(scope="module")
def timit_with_a_bad_file(tmp_path_factory):
    from tfaudio.datasets import timit, timit_embedded

    root = tmp_path_factory.mktemp("timit-bad")
    timit_embedded.write_timit_release(root, 3, 1, 1, 2, max_seconds=1.2,
                                       speaker_names={"dev": timit.DEV_SPEAKERS, "test": timit.CORE_TEST_SPEAKERS})
    wav = sorted(root.glob("TRAIN/*/*/SI*.WAV"))[0]
    wav.write_bytes(b"")
    return root, wav


def test_asr_train_and_eval_skip_and_list_a_bad_file(timit_with_a_bad_file, transfer_recipe, tmp_path, capsys,
                                                     caplog):
    root, wav = timit_with_a_bad_file
    run = tmp_path / "run"
    train = ["transfer", "--stage", "base", "--task", "asr", "--data-dir", root, "--config", transfer_recipe,
             "--run-dir", run, "--no-progress", "--epochs", "1", "--set", "data.cache_features=false"]
    res = run_inproc(capsys, "train", train)
    harness.assert_user_error(res, wav.name, "--skip-bad-files")
    caplog.clear()
    res = run_inproc(capsys, "train", train + ["--skip-bad-files"])
    assert res.returncode == 0, res.stderr
    assert f"skipped 1 unreadable file(s):\n  {wav}: " in caplog.text
    ev = ["transfer", "--run-dir", run, "--base", "ser", "--target", "asr", "--out", tmp_path / "eval",
          "--no-progress"]
    res = run_inproc(capsys, "eval", ev)
    harness.assert_user_error(res, wav.name, "--skip-bad-files")
    caplog.clear()
    res = run_inproc(capsys, "eval", ev + ["--skip-bad-files"])
    assert res.returncode == 0, res.stderr
    assert str(wav) in caplog.text
    assert (tmp_path / "eval" / "table2.csv").exists()
