"""The DFE command line: --help teaches, user errors are one line with exit code 2."""
import subprocess
import sys

import pytest

from tfaudio.systems.dfe import cli as dfe_cli
from tfaudio.cli.common import main
from tfaudio.config import ConfigError


def test_help_lists_stages_and_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main("train", ["dfe", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("classifier", "sfe", "cascade", "shared", "--data-dir", "--resume", "examples:"):
        assert word in out


def test_console_script_runs():
    res = subprocess.run([sys.executable, "-m", "tfaudio.cli.train", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and "dfe" in res.stdout


def test_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    code = main("train", ["dfe", "--data-dir", str(tmp_path / "nowhere"), "--noise-dir", str(tmp_path),
                          "--run-dir", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "UrbanSound8K.csv not found" in err and "Traceback" not in err


def test_eval_and_export_need_a_trained_run(tmp_path, capsys):
    assert main("eval", ["dfe", "--run-dir", str(tmp_path)]) == 2
    assert main("export", ["dfe", "--run-dir", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "train first" in capsys.readouterr().err


def test_flags_override_the_recipe():
    p = __import__("argparse").ArgumentParser()
    dfe_cli.add_train_args(p)
    args = p.parse_args(["--epochs", "2", "--batch-size", "8", "--set", "model.classifier_dropout=0.5",
                         "--split", "cv3"])
    cfg = dfe_cli.build_config(args)
    assert cfg.train.classifier_epochs == 2 and cfg.train.enhancer_epochs == 2 and cfg.train.batch_size == 8
    assert cfg.model.classifier_dropout == 0.5 and cfg.data.split == "cv3"
    assert cfg.data.clip_seconds == 2.0  # embedded recipe without --data-dir
    args = p.parse_args(["--data-dir", "/data/us8k"])
    assert dfe_cli.build_config(args).train.classifier_epochs == 100  # paper recipe
    with pytest.raises(ConfigError, match="unknown field"):
        dfe_cli.build_config(p.parse_args(["--set", "model.nope=1"]))
