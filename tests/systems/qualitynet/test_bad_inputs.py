"""Quality-Net's commands over the bad-input matrix: every bad input is one line naming
the file (and line / column where there is one), exit 2, or a listed skip; never a
traceback. (tfaudio-score's rows live in test_scorer.py.)"""
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tfaudio.cli.common import main
from tests.conftest import QUALITYNET_TINY_MODEL
from tests.systems.qualitynet.toy import make_toy_manifests


@pytest.fixture
def toy(tmp_path):
    root = tmp_path / "données à lire"
    manifests = make_toy_manifests(root, n_train=8, n_dev=4, n_test=4)
    recipe = root / "tiny.json"
    recipe.write_text(json.dumps({"model": QUALITYNET_TINY_MODEL, "train": {"epochs": 1, "batch_size": 4}}))
    return root, manifests, recipe


def _train(toy, manifest=None, *extra):
    root, m, recipe = toy
    return main("train", ["qualitynet", "--manifest", str(manifest or m["train"]), "--dev", str(m["dev"]),
                          "--config", str(recipe), "--run-dir", str(root / "run"), "--no-progress", *extra])


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _edit(manifest, fn, name):
    df = pd.read_csv(manifest)
    out = manifest.with_name(name)
    fn(df).to_csv(out, index=False)
    return out


MANIFEST_ROWS = {
    "missing column": (lambda df: df.drop(columns=["score"]), ["score"]),
    "score far out of range": (lambda df: df.assign(score=df.score.where(df.index != 2, 1e6)), ["line 4", "score"]),
    "negative score": (lambda df: df.assign(score=df.score.where(df.index != 0, -1.0)), ["line 2", "score"]),
    "NaN score": (lambda df: df.assign(score=df.score.where(df.index != 1, np.nan)), ["line 3", "score"]),
    "duplicates that disagree": (lambda df: pd.concat([df, df.iloc[:1].assign(score=1.0)]), ["line"]),
    "no rows": (lambda df: df.iloc[:0], ["bad.csv"]),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_ROWS))
def test_bad_manifest_rows(toy, capsys, case):
    edit, words = MANIFEST_ROWS[case]
    bad = _edit(toy[1]["train"], edit, "bad.csv")
    assert _train(toy, bad) == 2, case
    _one_error_line(capsys, "bad.csv", *words)
    assert not (toy[0] / "run" / "ckpt").exists() and not (toy[0] / "run" / "train" / "ckpt").exists()


def test_exact_duplicates_are_dropped_with_a_warning(toy, capsys, caplog):
    dup = _edit(toy[1]["train"], lambda df: pd.concat([df, df, df]), "dup.csv")
    assert _train(toy, dup) == 0
    said = capsys.readouterr().err + caplog.text
    assert "dup" in said.lower() and "dup.csv" in said


def _corrupt(p):
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + b"\x01" * 64)


def _nan(p):
    x = np.zeros(16000, np.float32)
    x[5] = np.inf
    sf.write(p, x, 16000, subtype="FLOAT")


AUDIO_ROWS = {"corrupt": _corrupt, "empty": lambda p: p.write_bytes(b""),
              "not audio": lambda p: p.write_text("hello"), "Inf samples": _nan,
              "shorter than a frame": lambda p: sf.write(p, np.ones(10, np.float32) * 0.1, 16000)}


@pytest.mark.parametrize("case", sorted(AUDIO_ROWS))
def test_bad_audio_is_named_then_skipped(toy, capsys, caplog, case):
    first = pd.read_csv(toy[1]["train"]).path.iloc[0]
    path = toy[1]["train"].parent / first  # relative to the manifest, or absolute
    AUDIO_ROWS[case](path)
    assert _train(toy) == 2, case
    _one_error_line(capsys, path.name)
    assert _train(toy, None, "--skip-bad-files") == 0
    said = capsys.readouterr().err + caplog.text
    assert path.name in said


def test_eval_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main("eval", ["qualitynet", "--run-dir", str(tmp_path), "--no-progress"]) == 2
    _one_error_line(capsys)


def test_export_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main("export", ["qualitynet", "--run-dir", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    _one_error_line(capsys, str(tmp_path))


def test_quality_set_with_a_silent_noise_file_skips_and_names_it(tmp_path, capsys, caplog):
    from tfaudio.datasets.noise import write_noise_folder
    from tfaudio.datasets.timit_embedded import write_timit_tree
    from tfaudio.systems.qualitynet.labels_cli import main as make_set

    write_timit_tree(tmp_path / "timit", 2, 2, seed=0)
    noise = tmp_path / "noise"
    write_noise_folder(noise, ["white"], seconds=2.0)
    sf.write(noise / "quiet.wav", np.zeros(16000, np.float32), 16000)
    code = make_set(["--clean", str(tmp_path / "timit" / "TRAIN"), "--noise", str(noise), "--out",
                     str(tmp_path / "out"), "--snr", "5", "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    assert "quiet.wav" in err + caplog.text and "silent" in err + caplog.text
