"""Manifests and the PESQ-labelled quality-set builder (tfaudio.systems.qualitynet.manifest,
pesq_label, quality_set)."""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pesq as pesq_pkg
import pytest
import soundfile as sf

from tfaudio.audio.io import load_audio, resample
from tfaudio.audio.files import find_audio_files
from tfaudio.data.splits import assign_splits
from tfaudio.systems.qualitynet import pesq_label as quality
from tfaudio.systems.qualitynet.manifest import ManifestError, read_manifest, write_manifest
from tfaudio.systems.qualitynet.pesq_label import PesqLabelError, pesq_label
from tfaudio.systems.qualitynet.quality_set import (
    QualitySetError,
    make_quality_set,
    speaker_of,
    utterance_id,
)
from tfaudio.datasets.noise import write_noise_folder
from tfaudio.datasets.speech_synth import make_speakers, synth_utterance
from tfaudio.datasets.timit_embedded import write_timit_tree

PESQ_MIN, PESQ_MAX = 1.0, 4.65


# ----------------------------------------------------------------------------------
# manifests
# ----------------------------------------------------------------------------------
def _touch_wavs(folder: Path, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        sf.write(str(folder / n), np.zeros(160, np.float32), 16000)


def test_read_csv_manifest_resolves_relative_paths(tmp_path):
    _touch_wavs(tmp_path / "audio", ["a.wav", "b.wav"])
    (tmp_path / "m.csv").write_text(
        "path,score,condition,speaker,extra\n"
        "audio/a.wav,3.5,noisy,S1,x\n"
        f"{tmp_path / 'audio' / 'b.wav'},1.25,,,y\n")
    df = read_manifest(tmp_path / "m.csv")
    assert list(df.columns[:4]) == ["path", "score", "condition", "speaker"]
    assert df["path"].tolist() == [str(tmp_path / "audio" / "a.wav"),
                                   str(tmp_path / "audio" / "b.wav")]
    assert df["score"].tolist() == [3.5, 1.25]
    assert df["score"].dtype == np.float64
    assert df["condition"].tolist() == ["noisy", "unknown"]
    assert df["speaker"].tolist() == ["S1", ""]
    assert df["extra"].tolist() == ["x", "y"]


@pytest.mark.parametrize("sep", [",", " ", "\t"])
def test_read_list_manifest(tmp_path, sep):
    _touch_wavs(tmp_path / "w", ["a.wav", "b c.wav"])
    (tmp_path / "list.txt").write_text(f"4.5{sep}w/a.wav\n\n1.0{sep}w/b c.wav\n")
    df = read_manifest(tmp_path / "list.txt")
    assert df["score"].tolist() == [4.5, 1.0]
    assert df["path"].tolist() == [str(tmp_path / "w" / "a.wav"), str(tmp_path / "w" / "b c.wav")]
    assert set(df["condition"]) == {"unknown"} and set(df["speaker"]) == {""}


def test_manifest_missing_column(tmp_path):
    (tmp_path / "m.csv").write_text("file,score\na.wav,1\n")
    with pytest.raises(ManifestError) as ei:
        read_manifest(tmp_path / "m.csv")
    msg = str(ei.value)
    assert "m.csv" in msg and "'path'" in msg and "line 1" in msg


@pytest.mark.parametrize("bad, column, words", [
    ("abc", "score", "not a number"),
    ("nan", "score", "NaN"),
    ("", "score", "empty"),
    ("inf", "score", "infinite"),
])
def test_manifest_bad_score_names_file_row_column(tmp_path, bad, column, words):
    _touch_wavs(tmp_path, ["a.wav", "b.wav"])
    (tmp_path / "m.csv").write_text(f"path,score\na.wav,2.0\nb.wav,{bad}\n")
    with pytest.raises(ManifestError) as ei:
        read_manifest(tmp_path / "m.csv")
    msg = str(ei.value)
    assert str(tmp_path / "m.csv") in msg
    assert "line 3" in msg and f"column '{column}'" in msg and words in msg
    assert ei.value.problems[0][:2] == (3, column)


def test_manifest_missing_file(tmp_path):
    _touch_wavs(tmp_path, ["a.wav"])
    (tmp_path / "m.txt").write_text("2.0,a.wav\n3.0,gone.wav\n")
    with pytest.raises(ManifestError) as ei:
        read_manifest(tmp_path / "m.txt")
    msg = str(ei.value)
    assert "m.txt" in msg and "line 2" in msg and "column 'path'" in msg and "gone.wav" in msg
    # existence check can be switched off
    assert len(read_manifest(tmp_path / "m.txt", check_exists=False)) == 2


def test_manifest_skip_bad_lists_rows(tmp_path, caplog):
    _touch_wavs(tmp_path, ["a.wav", "b.wav"])
    (tmp_path / "m.csv").write_text(
        "path,score\na.wav,2.0\nb.wav,oops\nmissing.wav,3\nb.wav,4.0\n")
    with caplog.at_level(logging.WARNING, logger="tfaudio.systems.qualitynet.manifest"):
        df = read_manifest(tmp_path / "m.csv", skip_bad=True)
    assert df["score"].tolist() == [2.0, 4.0]
    text = caplog.text
    assert "skipped 2 bad row(s)" in text and "line 3" in text and "line 4" in text
    assert "m.csv" in text


@pytest.mark.parametrize("bad", ["-0.5", "5.01", "1e6", "-inf"])
def test_manifest_score_outside_scale_names_file_line_column(tmp_path, bad):
    _touch_wavs(tmp_path, ["a.wav", "b.wav"])
    (tmp_path / "m.csv").write_text(f"path,score\na.wav,2.0\nb.wav,{bad}\n")
    with pytest.raises(ManifestError) as ei:
        read_manifest(tmp_path / "m.csv")
    msg = str(ei.value)
    assert str(tmp_path / "m.csv") in msg and "line 3" in msg and "column 'score'" in msg
    assert ei.value.problems[0][:2] == (3, "score")


def test_manifest_scale_edges_and_max_score(tmp_path, caplog):
    _touch_wavs(tmp_path, ["a.wav", "b.wav", "c.wav", "d.wav"])
    (tmp_path / "m.csv").write_text("path,score\na.wav,0\nb.wav,5\nc.wav,4.64\nd.wav,7.5\n")
    with pytest.raises(ManifestError, match=r"line 5.*outside the scale \[0, 5\]"):
        read_manifest(tmp_path / "m.csv")
    # a caller on another scale passes its maximum
    assert read_manifest(tmp_path / "m.csv", max_score=10)["score"].tolist() == [0, 5, 4.64, 7.5]
    with pytest.raises(ManifestError, match="line 3"):
        read_manifest(tmp_path / "m.csv", max_score=4.5)
    with caplog.at_level(logging.WARNING, logger="tfaudio.systems.qualitynet.manifest"):
        df = read_manifest(tmp_path / "m.csv", skip_bad=True)
    assert df["score"].tolist() == [0, 5, 4.64]
    assert "skipped 1 bad row(s)" in caplog.text and "line 5" in caplog.text


def test_manifest_huge_score_never_reaches_training(tmp_path):
    from tfaudio.systems.qualitynet import data as D

    (tmp_path / "a.wav").parent.mkdir(exist_ok=True)
    sf.write(str(tmp_path / "a.wav"), np.full(4000, 0.1, np.float32), 16000)
    sf.write(str(tmp_path / "b.wav"), np.full(4000, 0.1, np.float32), 16000)
    (tmp_path / "m.csv").write_text("path,score\na.wav,3.0\nb.wav,1e6\n")
    with pytest.raises(ManifestError, match="line 3"):
        D.load_quality_set(tmp_path / "m.csv", progress=False)
    qset = D.load_quality_set(tmp_path / "m.csv", skip_bad=True, progress=False)
    assert qset.scores.tolist() == [3.0]
    # the training path allows the model's own scale when it is wider than 5
    from tfaudio.systems.qualitynet.config import QualityNetRunConfig, with_overrides

    cfg = with_overrides(QualityNetRunConfig(), {"model": {"q_max": 100.0}})
    assert D.score_range_max(cfg.model) == 100.0
    assert D.score_range_max(QualityNetRunConfig().model) == 5.0


def test_manifest_duplicates_with_same_score_are_dropped_with_a_warning(tmp_path, caplog):
    _touch_wavs(tmp_path, ["a.wav", "b.wav", "c.wav"])
    (tmp_path / "m.csv").write_text(
        "path,score,speaker\na.wav,2.0,s1\nb.wav,3.0,s2\na.wav,2.0,s9\nc.wav,1.0,s3\n"
        f"{tmp_path / 'b.wav'},3.0,s2\n")
    with caplog.at_level(logging.WARNING, logger="tfaudio.systems.qualitynet.manifest"):
        df = read_manifest(tmp_path / "m.csv")
    assert df["path"].tolist() == [str(tmp_path / n) for n in ("a.wav", "b.wav", "c.wav")]
    assert df["speaker"].tolist() == ["s1", "s2", "s3"]  # first row kept
    text = caplog.text
    assert "2 duplicated row(s)" in text and "lines 4, 6" in text
    assert str(tmp_path / "a.wav") in text and str(tmp_path / "b.wav") in text


def test_manifest_duplicates_that_disagree_are_refused(tmp_path, caplog):
    _touch_wavs(tmp_path, ["a.wav", "b.wav"])
    (tmp_path / "m.txt").write_text("2.0,a.wav\n3.0,b.wav\n4.0,a.wav\n")
    with pytest.raises(ManifestError) as ei:
        read_manifest(tmp_path / "m.txt")
    msg = str(ei.value)
    assert "m.txt" in msg and "line 3" in msg and "line 1" in msg
    assert "different scores" in msg and "a.wav" in msg
    with caplog.at_level(logging.WARNING, logger="tfaudio.systems.qualitynet.manifest"):
        df = read_manifest(tmp_path / "m.txt", skip_bad=True)
    assert df["path"].tolist() == [str(tmp_path / "b.wav")]  # neither a.wav row is trusted
    assert "skipped 2 bad row(s)" in caplog.text


def test_manifest_empty_and_absent(tmp_path):
    (tmp_path / "e.csv").write_text("\n\n")
    with pytest.raises(ManifestError, match="empty"):
        read_manifest(tmp_path / "e.csv")
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nope.csv")
    (tmp_path / "h.csv").write_text("path,score\n")
    assert read_manifest(tmp_path / "h.csv").empty


def test_write_manifest_roundtrip_relative(tmp_path):
    _touch_wavs(tmp_path / "set" / "audio", ["a.wav"])
    df = pd.DataFrame({"path": [str(tmp_path / "set" / "audio" / "a.wav")],
                       "score": [1.2345678901234567], "condition": ["noisy"],
                       "speaker": ["S"], "snr": [5.0]})
    out = write_manifest(df, tmp_path / "set" / "m.csv")
    assert out.read_text().splitlines()[1].startswith("audio/a.wav,1.2345678901234567,")
    assert not [p for p in (tmp_path / "set").iterdir() if ".part" in p.name]
    back = read_manifest(out)
    assert back["path"][0] == df["path"][0] and back["score"][0] == df["score"][0]
    assert back["snr"][0] == 5.0


# ----------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------
def test_pesq_label_errors_are_explicit():
    x = np.zeros(16000, np.float32)
    with pytest.raises(PesqLabelError, match="silent"):
        pesq_label(x, x)
    y = (np.random.default_rng(0).standard_normal(1000) * 0.1).astype(np.float32)
    with pytest.raises(PesqLabelError, match="too short"):
        pesq_label(y, y)
    with pytest.raises(QualitySetError):
        pesq_label(y, y, sample_rate=22050)
    with pytest.raises(QualitySetError):
        pesq_label(y, y, sample_rate=8000, band="wb")


def test_assign_splits_speaker_disjoint_and_proportional():
    groups = [f"spk{i}" for i in range(50) for _ in range(10)]
    m = assign_splits(groups, (0.8, 0.1, 0.1), seed=3)
    counts = pd.Series([m[g] for g in groups]).value_counts()
    assert counts["train"] == 400 and counts["dev"] == 50 and counts["test"] == 50
    assert m == assign_splits(groups, (0.8, 0.1, 0.1), seed=3)
    # few groups: every non-zero split still gets one
    m3 = assign_splits(["a"] * 5 + ["b"] * 5 + ["c"] * 5, (0.8, 0.1, 0.1))
    assert sorted(m3.values()) == ["dev", "test", "train"]


def test_find_audio_timit_names(tmp_path):
    d = tmp_path / "TRAIN" / "DR1" / "FCJF0"
    d.mkdir(parents=True)
    for name in ("SA1.WAV", "SA1.PHN", "SA1.WRD", "SA1.TXT", "SX2.WAV.wav", ".hidden.wav"):
        (d / name).write_bytes(b"x")
    found = [p.name for p in find_audio_files(tmp_path)]
    assert found == ["SA1.WAV", "SX2.WAV.wav"]
    assert speaker_of(d / "SA1.WAV", tmp_path) == "FCJF0"
    assert speaker_of(tmp_path / "x.wav", tmp_path) == ""
    assert utterance_id(d / "SX2.WAV.wav", tmp_path) == "TRAIN_DR1_FCJF0_SX2"


# ----------------------------------------------------------------------------------
# make_quality_set on a tiny TIMIT-layout tree
# ----------------------------------------------------------------------------------
SNRS = (-10, 0, 10, 25)


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("qinputs")
    timit = root / "TIMIT"
    write_timit_tree(timit, n_speakers=4, utterances_per_speaker=4, seed=3,
                     min_seconds=1.0, max_seconds=1.6)
    spk_dirs = sorted((timit / "TRAIN" / "DR1").iterdir())
    # a corrupt "audio" file, an empty wav, a silent wav, a stray .WRD
    (spk_dirs[0] / "BAD1.WAV").write_bytes(b"NIST_1A\n garbage, not a sphere file")
    sf.write(str(spk_dirs[1] / "EMPTY.wav"), np.zeros(0, np.float32), 16000)
    sf.write(str(spk_dirs[1] / "QUIET.wav"), np.zeros(16000, np.float32), 16000)
    (spk_dirs[2] / "SA1.WRD").write_text("0 100 word\n")
    # a converted duplicate next to the SPHERE original (ignored as the same utterance)
    shutil.copy(spk_dirs[3] / "SA1.WAV", spk_dirs[3] / "SA1.WAV.wav")
    # an 8 kHz file (must be resampled to 16 kHz)
    utt, _ = synth_utterance(make_speakers(4, seed=3)[2], [42], seconds=1.2)
    sf.write(str(spk_dirs[2] / "SX8K.wav"), resample(utt, 16000, 8000), 8000, subtype="PCM_16")
    noise = root / "noise"
    write_noise_folder(noise, names=("white", "pink"), seconds=3.0)
    return {"clean": timit, "noise": noise, "root": root}


KW = dict(snrs=SNRS, clean_fraction=0.25, enhanced_fraction=0.35, seed=1, progress=False)


@pytest.fixture(scope="module")
def built(tiny_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("qset")
    logger = logging.getLogger("tfaudio.systems.qualitynet.quality_set")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        result = make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], out,
                                  workers=2, **KW)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    log_text = "\n".join(r.getMessage() for r in records)
    return {"out": out, "result": result, "log": log_text,
            "df": read_manifest(out / "all.csv")}


def test_conditions_scores_and_columns(built):
    df, out = built["df"], built["out"]
    assert set(df["condition"]) == {"clean", "noisy", "enhanced"}
    for name in ("train", "dev", "test"):
        head = (out / f"{name}.csv").read_text().splitlines()[0]
        assert head == "path,score,condition,speaker,noise,snr,source"
    assert np.all(np.isfinite(df["score"]))
    assert df["score"].between(PESQ_MIN, PESQ_MAX).all()
    clean = df[df["condition"] == "clean"]
    assert (clean["score"] > 4.0).all()
    assert clean["noise"].fillna("").eq("").all() and clean["snr"].isna().all()
    noisy = df[df["condition"] != "clean"]
    assert set(noisy["noise"]) <= {"white", "pink"} and set(noisy["snr"]) <= set(SNRS)
    for p in df["path"]:
        assert os.path.isfile(p)
        info = sf.info(p)
        assert info.samplerate == 16000 and info.subtype == "PCM_16"
        cond = df.loc[df["path"] == p, "condition"].item()
        assert Path(p).parent == built["out"] / "audio" / cond
    # paths in the CSV are relative to it
    row = pd.read_csv(out / "all.csv").iloc[0]
    assert row["path"].startswith("audio/")


def test_unparalleled_one_condition_per_utterance(built):
    df = built["df"]
    assert df["source"].is_unique
    # 16 synthetic + 1 8-kHz file are usable; the duplicate SA1.WAV.wav is ignored
    assert len(df) == 17
    assert not any(s.endswith("SA1.WAV.wav") for s in df["source"])


def test_splits_are_speaker_disjoint(built):
    out = built["out"]
    sets = {s: set(read_manifest(out / f"{s}.csv")["speaker"]) for s in ("train", "dev", "test")}
    assert all(sets.values())
    assert not (sets["train"] & sets["dev"] or sets["train"] & sets["test"]
                or sets["dev"] & sets["test"])
    assert sum(len(read_manifest(out / f"{s}.csv")) for s in sets) == len(built["df"])


def test_bad_files_skipped_and_listed(built):
    result, out = built["result"], built["out"]
    reasons = {Path(src).name: reason for src, reason in result.skipped}
    assert set(reasons) == {"BAD1.WAV", "EMPTY.wav", "QUIET.wav"}
    assert "readable" in reasons["BAD1.WAV"]
    assert "empty" in reasons["EMPTY.wav"]
    assert "silent" in reasons["QUIET.wav"]
    listed = pd.read_csv(out / "skipped.csv")
    assert sorted(Path(s).name for s in listed["source"]) == sorted(reasons)
    assert "skipped 3" in built["log"] and "BAD1.WAV" in built["log"]
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["skipped"]) == 3
    # the .PHN / .TXT / .WRD side files never show up
    assert not any(Path(s).suffix.upper() in (".PHN", ".TXT", ".WRD")
                   for s in list(built["df"]["source"]) + [s for s, _ in result.skipped])


def test_8khz_file_resampled(built):
    df = built["df"]
    row = df[df["source"].str.endswith("SX8K.wav")]
    assert len(row) == 1
    assert sf.info(row["path"].item()).samplerate == 16000
    assert "resampled 1 clean file(s) to 16000 Hz" in built["log"]
    assert "8000 Hz" in built["log"]


def test_label_is_the_pesq_package_score(built):
    df = built["df"]
    for cond in ("noisy", "enhanced", "clean"):
        row = df[df["condition"] == cond].iloc[0]
        ref = load_audio(row["source"], sample_rate=16000)
        deg = load_audio(row["path"], sample_rate=16000)
        direct = pesq_pkg.pesq(16000, ref, deg, "wb")
        assert math.isclose(direct, row["score"], rel_tol=0, abs_tol=1e-9), cond


def test_noisy_at_minus_10_db_scores_low(tiny_inputs, tmp_path):
    result = make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], tmp_path / "low",
                              snrs=(-10,), clean_fraction=0.0, enhanced_fraction=0.0,
                              max_utterances=4, workers=1, progress=False)
    df = read_manifest(result.manifests["all"])
    assert len(df) >= 2
    assert set(df["condition"]) == {"noisy"} and set(df["snr"]) == {-10.0}
    assert (df["score"] < 1.6).all(), df["score"].tolist()


def test_deterministic_across_runs_and_worker_counts(built, tiny_inputs, tmp_path):
    out2 = tmp_path / "again"
    make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], out2, workers=1, **KW)
    a = pd.read_csv(built["out"] / "all.csv")
    b = pd.read_csv(out2 / "all.csv")
    # identical except "source", which is relative to each manifest's own folder
    pd.testing.assert_frame_equal(a.drop(columns="source"), b.drop(columns="source"))
    assert (read_manifest(built["out"] / "all.csv")["source"].tolist()
            == read_manifest(out2 / "all.csv")["source"].tolist())
    for rel in a["path"]:
        assert (built["out"] / rel).read_bytes() == (out2 / rel).read_bytes()


def test_resume_does_no_work(built, tiny_inputs, monkeypatch):
    out = built["out"]
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.suffix in (".wav", ".json")
                   and p.name != "summary.json")
    before = {p: p.stat().st_mtime_ns for p in files}
    calls = []
    real = quality._pesq
    monkeypatch.setattr(quality, "_pesq", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], out, workers=1, **KW)
    assert calls == []
    assert result.computed == 0 and result.reused == len(built["df"]) + 3
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert read_manifest(out / "all.csv")["score"].tolist() == built["df"]["score"].tolist()


def test_resume_recomputes_only_missing_items(built, tiny_inputs, tmp_path, monkeypatch):
    out = tmp_path / "partial"
    shutil.copytree(built["out"], out)
    victim = next((out / "audio" / "noisy").glob("*.wav"))
    victim.unlink()  # an item whose wav vanished (e.g. killed mid-run) is redone
    calls = []
    real = quality._pesq
    monkeypatch.setattr(quality, "_pesq", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], out, workers=1, **KW)
    assert len(calls) == 1 and result.computed == 1
    assert victim.is_file()
    pd.testing.assert_frame_equal(pd.read_csv(out / "all.csv").drop(columns="source"),
                                  pd.read_csv(built["out"] / "all.csv").drop(columns="source"))


def test_bad_inputs_raise_clear_errors(tiny_inputs, tmp_path):
    with pytest.raises(QualitySetError, match="clean speech folder not found"):
        make_quality_set(tmp_path / "nope", tiny_inputs["noise"], tmp_path / "o")
    with pytest.raises(QualitySetError, match="noise folder not found"):
        make_quality_set(tiny_inputs["clean"], tmp_path / "nope", tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(QualitySetError, match="no audio files"):
        make_quality_set(tmp_path / "empty", tiny_inputs["noise"], tmp_path / "o")
    with pytest.raises(QualitySetError, match="8000 or 16000"):
        make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], tmp_path / "o",
                         sample_rate=44100)
    with pytest.raises(QualitySetError, match="clean_fraction"):
        make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], tmp_path / "o",
                         clean_fraction=0.7, enhanced_fraction=0.5)


def test_narrow_band_at_8khz(tiny_inputs, tmp_path):
    result = make_quality_set(tiny_inputs["clean"], tiny_inputs["noise"], tmp_path / "nb",
                              sample_rate=8000, clean_fraction=0.3, max_utterances=5,
                              workers=1, progress=False, seed=2)
    df = read_manifest(result.manifests["all"])
    assert len(df) + len(result.skipped) == 5 and len(df) >= 2
    assert df["score"].between(PESQ_MIN, PESQ_MAX).all()
    row = df.iloc[0]
    ref = load_audio(row["source"], sample_rate=8000)
    deg = load_audio(row["path"], sample_rate=8000)
    assert sf.info(row["path"]).samplerate == 8000
    assert math.isclose(pesq_pkg.pesq(8000, ref, deg, "nb"), row["score"], abs_tol=1e-9)


# ----------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------
def test_cli_missing_dir_exit_2(tmp_path, capsys):
    from tfaudio.systems.qualitynet.labels_cli import main

    rc = main(["--clean", str(tmp_path / "nope"), "--noise", str(tmp_path), "--out",
               str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "nope" in err


def test_cli_help_teaches(capsys):
    from tfaudio.systems.qualitynet.labels_cli import main

    with pytest.raises(SystemExit) as ei:
        main(["--help"])
    assert ei.value.code == 0
    text = capsys.readouterr().out
    assert "--snr -10 -5 0 5 10 15 20 25" in text and "TIMIT" in text and "PESQ" in text


def test_cli_runs(tiny_inputs, tmp_path, capsys):
    from tfaudio.systems.qualitynet.labels_cli import main

    rc = main(["--clean", str(tiny_inputs["clean"]), "--noise", str(tiny_inputs["noise"]),
               "--out", str(tmp_path / "q"), "--snr", "0", "20", "--max-utterances", "4",
               "--workers", "1", "--clean-fraction", "0.25", "--no-progress", "-q"])
    assert rc == 0
    df = read_manifest(tmp_path / "q" / "all.csv")
    skipped = pd.read_csv(tmp_path / "q" / "skipped.csv")
    assert len(df) + len(skipped) == 4 and len(df) >= 1
    assert "train" in capsys.readouterr().out


# ----------------------------------------------------------------------------------
# the families plan (codecs, band limits, clipping, dropouts, reverberation)
# ----------------------------------------------------------------------------------
FAMILY_MIX = {"noise": 2, "enhanced": 1, "bandlimit": 1, "clipping": 1, "dropout": 1, "reverb": 1}


@pytest.fixture(scope="module")
def family_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("qfamilies")
    write_timit_tree(root / "TIMIT", n_speakers=8, utterances_per_speaker=3, seed=5,
                     min_seconds=1.0, max_seconds=1.4)
    write_noise_folder(root / "noise" / "machine", names=("white", "factory1"), seconds=3.0)
    write_noise_folder(root / "noise" / "vehicle", names=("volvo",), seconds=3.0)
    return {"clean": root / "TIMIT", "noise": root / "noise"}


FAMILY_KW = dict(mix=FAMILY_MIX, clean_fraction=0.2, per_source=2, holdout_noises=["vehicle"],
                 holdout_share=0.4, splits=(0.5, 0.25, 0.25), seed=4, progress=False)


@pytest.fixture(scope="module")
def families_built(family_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("qfam-out")
    result = make_quality_set(family_inputs["clean"], family_inputs["noise"], out, workers=2,
                              **FAMILY_KW)
    return {"out": out, "result": result, "df": read_manifest(out / "all.csv")}


def test_families_plan_columns_shares_and_labels(families_built):
    df, out = families_built["df"], families_built["out"]
    head = (out / "train.csv").read_text().splitlines()[0]
    assert head == "path,score,condition,speaker,noise,snr,source,family,detail,zero_shot"
    n_sources = 8 * 3
    assert len(df) == 2 * n_sources  # two items per clean file
    clean = df[df["family"] == "clean"]
    assert len(clean) == round(0.2 * 2 * n_sources)
    assert clean["source"].is_unique  # at most one clean copy of a file
    assert (clean["score"] > 4.0).all()
    assert set(df["family"]) - {"clean"} >= {"noise", "enhanced", "bandlimit", "clipping",
                                             "dropout", "reverb"}
    assert np.all(np.isfinite(df["score"])) and df["score"].between(PESQ_MIN, PESQ_MAX).all()
    for fam, group in df.groupby("family"):
        for p in group["path"]:
            assert Path(p).parent.name == fam.split(":")[0].split()[-1]  # audio/<family>/
    # copies of one file share its speaker, so its split
    assert df.groupby("source")["split"].nunique().max() == 1
    assert df.groupby("speaker")["split"].nunique().max() == 1


def test_held_out_noise_family_only_in_test(families_built):
    df = families_built["df"]
    zero = df[df["zero_shot"] == 1]
    assert len(zero) > 0 and set(zero["split"]) == {"test"}
    assert set(zero["family"]) == {"zero-shot noise: vehicle"}
    assert set(zero["noise"]) == {"volvo"}
    seen = df[df["split"] != "test"]
    assert "volvo" not in set(seen["noise"].fillna(""))  # neither noisy nor enhanced
    assert (df.loc[df["split"] == "test", "zero_shot"] == 1).any()


def test_families_plan_is_deterministic_and_resumes(families_built, family_inputs, tmp_path,
                                                    monkeypatch):
    out2 = tmp_path / "again"
    make_quality_set(family_inputs["clean"], family_inputs["noise"], out2, workers=1,
                     **FAMILY_KW)
    a = pd.read_csv(families_built["out"] / "all.csv").drop(columns="source")
    b = pd.read_csv(out2 / "all.csv").drop(columns="source")
    pd.testing.assert_frame_equal(a, b)
    for rel in a["path"]:
        assert (families_built["out"] / rel).read_bytes() == (out2 / rel).read_bytes()
    calls = []
    real = quality._pesq
    monkeypatch.setattr(quality, "_pesq", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = make_quality_set(family_inputs["clean"], family_inputs["noise"], out2, workers=1,
                              **FAMILY_KW)
    assert calls == [] and result.computed == 0


def test_families_plan_bad_options_are_clear(family_inputs, tmp_path):
    kw = dict(progress=False, workers=1)
    with pytest.raises(QualitySetError, match="unknown condition family loud"):
        make_quality_set(family_inputs["clean"], family_inputs["noise"], tmp_path / "o",
                         mix={"loud": 1}, **kw)
    with pytest.raises(QualitySetError, match="held-out noise family cafe not in"):
        make_quality_set(family_inputs["clean"], family_inputs["noise"], tmp_path / "o",
                         mix={"noise": 1}, holdout_noises=["cafe"], **kw)
    with pytest.raises(QualitySetError, match="every noise family is held out"):
        make_quality_set(family_inputs["clean"], family_inputs["noise"], tmp_path / "o",
                         mix={"noise": 1}, holdout_noises=["machine", "vehicle"], **kw)
    with pytest.raises(QualitySetError, match="per_source > 1 needs"):
        make_quality_set(family_inputs["clean"], family_inputs["noise"], tmp_path / "o",
                         per_source=2, **kw)


@pytest.mark.skipif(shutil.which("ffmpeg") is None,
                    reason="the ffmpeg program is not installed (.ci/run installs it)")
def test_codec_family_with_a_held_out_codec(family_inputs, tmp_path):
    result = make_quality_set(family_inputs["clean"], family_inputs["noise"], tmp_path / "c",
                              mix={"codec": 1}, codecs=["opus", "gsm"], holdout_codecs=["mp3"],
                              holdout_share=0.4, clean_fraction=0.1, splits=(0.5, 0.25, 0.25),
                              max_utterances=12, workers=2, progress=False, seed=1)
    df = read_manifest(result.manifests["all"])
    codec = df[df["condition"].str.startswith("codec")]
    assert set(codec["condition"]) <= {"codec: opus", "codec: gsm", "codec: mp3"}
    assert set(codec.loc[codec["split"] != "test", "condition"]) <= {"codec: opus", "codec: gsm"}
    held = df[df["zero_shot"] == 1]
    assert set(held["family"]) <= {"zero-shot codec: mp3"} and set(held["split"]) <= {"test"}
    assert codec["score"].between(PESQ_MIN, 4.5).all()  # a codec always costs something
    assert codec["detail"].str.match(r"^(opus \d+k|gsm|mp3 \d+k)$").all()


def test_cli_mix_options(family_inputs, tmp_path, capsys):
    from tfaudio.systems.qualitynet.labels_cli import main

    assert main(["--clean", str(family_inputs["clean"]), "--noise", str(family_inputs["noise"]),
                 "--out", str(tmp_path / "o"), "--per-source", "2"]) == 2
    assert "need --mix" in capsys.readouterr().err
    assert main(["--clean", str(family_inputs["clean"]), "--noise", str(family_inputs["noise"]),
                 "--out", str(tmp_path / "o"), "--mix", "noise=x"]) == 2
    assert "bad condition weight" in capsys.readouterr().err
    rc = main(["--clean", str(family_inputs["clean"]), "--noise", str(family_inputs["noise"]),
               "--out", str(tmp_path / "o"), "--mix", "clipping", "reverb=2",
               "--max-utterances", "4", "--workers", "1", "--no-progress", "-q"])
    assert rc == 0
    df = read_manifest(tmp_path / "o" / "all.csv")
    assert set(df["family"]) <= {"clean", "clipping", "reverb"}
