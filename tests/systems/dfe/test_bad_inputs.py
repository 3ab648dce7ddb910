"""DFE's commands over the bad-input matrix: each bad input is one line naming the
thing at fault (exit 2) or, with --skip-bad-files, a listed skip; never a traceback."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tfaudio.cli.common import main
from tfaudio.datasets.urbansound8k_embedded import generate_noises, generate_urbansound8k

TINY = {
    "data": {"clip_seconds": 1.0, "snrs": [10.0], "noise_types": ["pink"]},
    "model": {"classifier_filters": [4, 6, 8, 8, 8], "mask_filters": [4, 6, 6, 6, 1],
              "generator_filters": [4, 6, 8]},
    "train": {"batch_size": 16, "classifier_epochs": 1, "enhancer_epochs": 1},
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("us8k-pristine")
    generate_urbansound8k(root / "UrbanSound8K", clips_per_class_per_fold=1, max_seconds=1.0)
    generate_noises(root / "noise", seconds=2.0)
    (root / "tiny.json").write_text(json.dumps(TINY))
    return root


@pytest.fixture
def corpus(pristine, tmp_path):
    """A fresh copy per test, in a folder whose name has spaces and non-ASCII letters."""
    root = tmp_path / "données de test"
    shutil.copytree(pristine, root)
    return root


def _meta(root):
    return root / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv"


def _first_clip(root, fold=1):
    df = pd.read_csv(_meta(root))
    row = df[df.fold == fold].iloc[0]
    return root / "UrbanSound8K" / "audio" / f"fold{fold}" / row.slice_file_name


def _train(root, *extra):
    return main("train", ["dfe", "--stage", "classifier", "--data-dir", str(root / "UrbanSound8K"),
                          "--noise-dir", str(root / "noise"), "--config", str(root / "tiny.json"),
                          "--run-dir", str(root / "run"), "--no-progress", *extra])


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _edit_meta(root, fn):
    df = pd.read_csv(_meta(root))
    fn(df).to_csv(_meta(root), index=False)


@pytest.mark.parametrize("case,edit,words", [
    ("missing column", lambda df: df.drop(columns=["fold"]), ["UrbanSound8K.csv", "fold"]),
    ("unknown fold", lambda df: df.assign(fold=df.fold.where(df.index != 3, 11)), ["UrbanSound8K.csv", "fold"]),
    ("no rows", lambda df: df.iloc[:0], ["UrbanSound8K", "no train clips"]),
    ("a listed file is absent", lambda df: df.assign(
        slice_file_name=df.slice_file_name.where(df.index != 0, "gone.wav")), ["gone.wav"]),
])
def test_metadata_errors_are_one_line(corpus, capsys, case, edit, words):
    _edit_meta(corpus, edit)
    assert _train(corpus) == 2, case
    _one_error_line(capsys, *words)
    assert not (corpus / "run" / "classifier" / "ckpt").exists()


def test_empty_metadata_file_is_one_line(corpus, capsys):
    _meta(corpus).write_bytes(b"")
    assert _train(corpus) == 2
    _one_error_line(capsys, "UrbanSound8K.csv")


def _nan_wav(path):
    x = np.zeros(8000, np.float32)
    x[100] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")


BAD_AUDIO = {
    "corrupt": lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 3),
    "empty": lambda p: p.write_bytes(b""),
    "not audio": lambda p: p.write_text("slice_file_name,fold\nnot,audio\n"),
    "NaN samples": _nan_wav,
}


@pytest.mark.parametrize("case", sorted(BAD_AUDIO))
def test_bad_audio_is_named_then_skipped_and_listed(corpus, capsys, case, caplog):
    clip = _first_clip(corpus)
    BAD_AUDIO[case](clip)
    assert _train(corpus) == 2, case
    _one_error_line(capsys, clip.name)
    assert _train(corpus, "--skip-bad-files") == 0, capsys.readouterr().err[-3000:]
    said = capsys.readouterr().err + caplog.text
    assert clip.name in said and "skip" in said.lower()
    assert (corpus / "run" / "classifier" / "best.json").exists()


def test_many_channels_and_odd_rates_are_read(corpus, capsys):
    clip = _first_clip(corpus)
    x = 0.1 * np.random.default_rng(0).standard_normal((11025, 6)).astype(np.float32)
    sf.write(clip, x, 11025, subtype="PCM_24")
    assert _train(corpus) == 0, capsys.readouterr().err[-3000:]


def test_silent_noise_file_is_named_then_skipped(corpus, capsys):
    sf.write(corpus / "noise" / "pink.wav", np.zeros(4000, np.float32), 19980)
    assert _train(corpus) == 0  # the classifier stage does not read noises
    code = main("eval", ["dfe", "--data-dir", str(corpus / "UrbanSound8K"), "--noise-dir",
                         str(corpus / "noise"), "--run-dir", str(corpus / "run"), "--no-progress"])
    assert code == 2
    _one_error_line(capsys, "pink.wav")


def test_empty_noise_folder_is_one_line(corpus, capsys):
    assert _train(corpus) == 0
    empty = corpus / "no noises"
    empty.mkdir()
    code = main("eval", ["dfe", "--data-dir", str(corpus / "UrbanSound8K"), "--noise-dir", str(empty),
                         "--run-dir", str(corpus / "run"), "--no-progress"])
    assert code == 2
    _one_error_line(capsys, "no noises")


def test_export_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main("export", ["dfe", "--run-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, str(tmp_path))


def test_skips_are_reported_again_when_features_come_from_the_cache(corpus, capsys, caplog):
    clip = _first_clip(corpus, fold=10)  # a test clip
    BAD_AUDIO["corrupt"](clip)
    assert _train(corpus, "--skip-bad-files") == 0
    capsys.readouterr()
    caplog.clear()
    code = main("eval", ["dfe", "--data-dir", str(corpus / "UrbanSound8K"), "--noise-dir", str(corpus / "noise"),
                         "--run-dir", str(corpus / "run"), "--no-progress", "--skip-bad-files",
                         "--out", str(corpus / "eval")])
    assert code == 0
    assert clip.name in capsys.readouterr().err + caplog.text  # said again: features came from the cache
    table1 = (corpus / "eval" / "table1.md").read_text()
    assert clip.name in table1 and "not counted in n" in table1
