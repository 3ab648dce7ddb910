"""SED's commands over the bad-input matrix: each bad strong label or audio file is one
line naming the file (and line and column) with exit 2, or with --skip-bad-files a
listed skip; an event end inside the clip's last frame is clamped and said."""
import shutil

import pytest

from tfaudio.cli.common import main
from tfaudio.datasets.dcase_embedded import generate_dcase

VALIDATION = "metadata/validation/validation.tsv"
SYNTHETIC = "metadata/train/synthetic.tsv"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcase-pristine") / "dcase"
    generate_dcase(root, {"synthetic": 6, "weak": 6, "unlabeled": 2, "validation": 5}, seed=1, sr=8000,
                   seconds=10.0, missing_per_subset=0, progress=False)
    return root


@pytest.fixture
def corpus(pristine, tmp_path):
    root = tmp_path / "dcase copy"
    shutil.copytree(pristine, root)
    return root


def _clip(root, subset_folder="audio/validation", i=0):
    return sorted((root / subset_folder).glob("*.wav"))[i]


def _append(root, meta, row):
    """Append a row to a metadata TSV; returns its line number."""
    path = root / meta
    text = path.read_text()
    path.write_text(text + row + "\n")
    return len(text.splitlines()) + 1


def _cli(command, root, sed_recipe, *extra):
    args = ["sed", "--data-dir", str(root), "--run-dir", str(root / "run"), "--no-progress", *extra]
    if command == "train":
        args += ["--config", str(sed_recipe), "--stage", "baseline", "--epochs", "1"]
    return main(command, args)


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


LABEL_CASES = {
    # name: (metadata file, onset, offset, label, column at fault)
    "onset beyond the clip": (VALIDATION, "10.5", "11.0", "Dog", "onset"),
    "offset beyond the clip": (VALIDATION, "9.0", "10.5", "Dog", "offset"),
    "negative onset": (SYNTHETIC, "-0.5", "1.0", "Dog", "onset"),
    "zero-length event": (VALIDATION, "2.0", "2.0", "Dog", "offset"),
    "reversed event": (SYNTHETIC, "3.0", "2.0", "Dog", "offset"),
    "validation label no training clip has": (VALIDATION, "1.0", "2.0", "Doorbell", "event_label"),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_bad_strong_label_is_one_line(corpus, sed_recipe, capsys, case):
    meta, on, off, label, column = LABEL_CASES[case]
    folder = "audio/validation" if meta == VALIDATION else "audio/train/synthetic"
    clip = _clip(corpus, folder).name
    line = _append(corpus, meta, f"{clip}\t{on}\t{off}\t{label}")
    assert _cli("train", corpus, sed_recipe) == 2, case
    _one_error_line(capsys, meta.split("/")[-1], f"line {line}", clip, f"column '{column}'", "--skip-bad-files")
    assert not (corpus / "run" / "baseline").exists()


@pytest.mark.parametrize("content", [b"", b"this is not audio\n"], ids=["empty", "not audio"])
def test_bad_audio_is_one_line(corpus, sed_recipe, capsys, content):
    bad = _clip(corpus, "audio/train/weak", 1)
    bad.write_bytes(content)
    assert _cli("train", corpus, sed_recipe) == 2
    _one_error_line(capsys, bad.name, "--skip-bad-files")


def test_eval_refuses_a_bad_label_without_the_flag(corpus, sed_recipe, capsys):
    """Eval reads the labels itself: a bad row added after training is an error there too."""
    assert _cli("train", corpus, sed_recipe) == 0
    capsys.readouterr()
    line = _append(corpus, VALIDATION, f"{_clip(corpus).name}\t10.5\t11.0\tDog")
    assert _cli("eval", corpus, sed_recipe, "--plots", "0") == 2
    _one_error_line(capsys, "validation.tsv", f"line {line}", "column 'onset'", "--skip-bad-files")


#: the clip of each case in the skip test (a clip may hold several bad rows; a
#: validation label no training clip has is checked on clips that pass the row checks)
SKIP_CLIP = {"onset beyond the clip": 0, "offset beyond the clip": 1, "negative onset": 0, "zero-length event": 0,
             "reversed event": 1, "validation label no training clip has": 2}


def test_skip_bad_files_lists_every_bad_clip_and_clamps_within_a_frame(corpus, sed_recipe, capsys, caplog):
    bad = {}
    for case, (meta, on, off, label, column) in LABEL_CASES.items():
        folder = "audio/validation" if meta == VALIDATION else "audio/train/synthetic"
        clip = _clip(corpus, folder, SKIP_CLIP[case])
        line = _append(corpus, meta, f"{clip.name}\t{on}\t{off}\t{label}")
        bad.setdefault(str(clip), []).append(f"line {line} ({clip.name}), column '{column}'")
    kept = _clip(corpus, "audio/validation", 3)  # an end 0.03 s past the clip: inside the last frame
    _append(corpus, VALIDATION, f"{kept.name}\t9.5\t10.03\tRunning_water")  # a label weak clips keep
    audio = _clip(corpus, "audio/train/weak", 2)
    audio.write_bytes(b"not audio")
    assert _cli("train", corpus, sed_recipe, "--skip-bad-files") == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" not in err
    err += caplog.text  # warnings go through logging (captured by pytest)
    assert "1 event end(s) ran past the clip's end by at most one frame" in err
    listed = dict(line.split("\t", 1) for line in (corpus / "run" / "skipped_files.tsv").read_text().splitlines()[1:])
    assert str(audio) in listed and str(kept) not in listed
    for path, where in bad.items():
        assert path in listed, (path, listed)
        for w in where:
            assert w in listed[path] and w in err, (w, listed[path])
    assert _cli("eval", corpus, sed_recipe, "--skip-bad-files", "--plots", "0") == 0
    out = capsys.readouterr()
    assert "error:" not in out.err and "Logistic regression (frames)" in out.out
    n_val = len(list((corpus / "audio/validation").glob("*.wav")))
    n_bad_val = len({p for p in bad if "/audio/validation/" in p})
    assert f"scored {n_val - n_bad_val} of {n_val} validation clips" in out.out
