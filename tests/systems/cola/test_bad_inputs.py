"""COLA's commands over bad audio: without --skip-bad-files a corrupt, empty or
non-audio file is one line naming it (exit 2); with it, a skip listed (path and
reason) in <run-dir>/skipped_files.tsv and counted."""
import numpy as np
import pytest
import soundfile as sf

from tests import harness
from tests.systems.cola.test_harness import in_process

BAD = {"corrupt": lambda p: p.write_bytes(b"RIFF....WAVEfmt garbage"),
       "empty": lambda p: p.write_bytes(b""),
       "text": lambda p: p.write_text("not audio at all")}


def _clips(folder, n, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(folder / f"c{i}.wav", 0.1 * rng.standard_normal(16000), 16000)


@pytest.mark.parametrize("case", sorted(BAD))
def test_pretraining_names_a_bad_file_then_skips_it(case, cola_recipe, tmp_path, capsys):
    data = tmp_path / "clips"
    _clips(data, 10, 0)
    BAD[case](data / "bad.wav")
    base = ["cola", "--config", cola_recipe, "--data-dir", data, "--no-progress", "--batch-size", "4",
            "--epochs", "1"]
    res = in_process("train", base + ["--run-dir", tmp_path / "stop"], capsys)
    harness.assert_user_error(res, "bad.wav")
    assert "--skip-bad-files" in res.stderr
    res = in_process("train", base + ["--run-dir", tmp_path / "run", "--skip-bad-files"], capsys)
    assert res.returncode == 0, res.stderr
    listed = (tmp_path / "run" / "skipped_files.tsv").read_text().splitlines()
    assert len(listed) == 2 and listed[1].split("\t")[0].endswith("bad.wav") and listed[1].split("\t")[1]


def test_downstream_train_and_eval_name_a_bad_file_then_skip_it(cola_recipe, tmp_path, capsys, caplog):
    task = tmp_path / "task"
    for k, label in enumerate(("a", "b")):
        _clips(task / "train" / label, 4, k)
        _clips(task / "dev" / label, 2, 20 + k)
        _clips(task / "test" / label, 2, 10 + k)
    (task / "train" / "a" / "broken.wav").write_bytes(b"")  # a dev split given: it stays in train
    run = tmp_path / "run"
    base = ["cola", "--stage", "linear", "--init", "random", "--config", cola_recipe, "--task", task,
            "--run-dir", run, "--no-progress", "--epochs", "1"]
    res = in_process("train", base, capsys)
    harness.assert_user_error(res, "broken.wav")
    assert "--skip-bad-files" in res.stderr
    assert in_process("train", base + ["--skip-bad-files"], capsys).returncode == 0
    listed = (run / "skipped_files.tsv").read_text()
    assert "broken.wav\t" in listed
    ev = ["cola", "--run-dir", run, "--task", task, "--no-progress", "--out", tmp_path / "eval"]
    res = in_process("eval", ev, capsys)
    harness.assert_user_error(res, "broken.wav")
    assert "--skip-bad-files" in res.stderr
    res = in_process("eval", ev + ["--skip-bad-files"], capsys)
    assert res.returncode == 0, res.stderr
    assert "broken.wav" in caplog.text + res.stderr  # the listed skip
    table = (tmp_path / "eval" / "table1_task.csv").read_text()
    assert ",4," in table  # n test clips: the 4 readable ones
