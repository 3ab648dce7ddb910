"""Labelled task layouts (folder per class, Speech Commands, CSV manifest), unlabelled
audio folders / lists, and the embedded recordings generator."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tfaudio.datasets import labeled_audio as la
from tfaudio.datasets.audio_folder import list_audio
from tfaudio.errors import DatasetError


def _wav(path, seconds=0.1, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.ones(int(sr * seconds)), sr)


def test_speech_commands_lists_and_background_noise(tmp_path):
    root = tmp_path / "speech_commands_v0.02"
    for word in ("yes", "no", "up"):
        for i in range(10):
            _wav(root / word / f"spk{i}_nohash_0.wav")
    _wav(root / "_background_noise_" / "white_noise.wav", 1.0)
    (root / "validation_list.txt").write_text("yes/spk0_nohash_0.wav\nno/spk0_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk1_nohash_0.wav\nup/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\n")
    task = la.load_task(root)
    assert task.layout == "speech_commands" and task.classes == ["no", "up", "yes"]
    assert task.sizes() == {"train": 25, "dev": 2, "test": 3}
    assert not any("_background_noise_" in p for df in task.splits.values() for p in df["path"])
    test = task.splits["test"]
    assert dict(zip(test["name"], test["label"])) == {"yes": 2, "up": 1, "no": 0}


def test_class_folders_with_and_without_split_level(tmp_path):
    flat = tmp_path / "flat"
    for c in ("cat", "dog"):
        for i in range(10):
            _wav(flat / c / f"{i}.wav")
    t = la.load_task(flat)
    assert t.layout == "class_folders" and sum(t.sizes().values()) == 20 and min(t.sizes().values()) >= 2
    again = la.load_task(flat)
    assert all(list(t.splits[s]["path"]) == list(again.splits[s]["path"]) for s in la.SPLITS)  # fixed hold-out
    split = tmp_path / "split"
    for part, n in (("train", 6), ("test", 2)):
        for c in ("cat", "dog"):
            for i in range(n):
                _wav(split / part / c / f"{i}.wav")
    t = la.load_task(split)
    assert t.sizes()["test"] == 4 and t.sizes()["train"] + t.sizes()["dev"] == 12
    _wav(split / "test" / "cow" / "0.wav")
    with pytest.raises(DatasetError, match=r"label\(s\) \['cow'\] of the test split"):
        la.load_task(split)


def test_the_held_out_clips_do_not_depend_on_where_the_dataset_lives(tmp_path):
    def names(task):
        return {s: sorted(Path(p).relative_to(root).as_posix() for p in task.splits[s]["path"]) for s in la.SPLITS}

    got = []
    for where in ("a", "b/deeper/still"):
        root = tmp_path / where / "task"
        for c in ("cat", "dog"):
            for i in range(30):
                _wav(root / c / f"{i}.wav", 0.01)
        got.append(names(la.load_task(root, dev_fraction=0.2)))
        pd.DataFrame({"path": [f"{c}/{i}.wav" for c in ("cat", "dog") for i in range(30)],
                      "label": [c for c in ("cat", "dog") for _ in range(30)], "split": "train"}).to_csv(root / "m.csv", index=False)
        got.append(names(la.load_task(root / "m.csv", dev_fraction=0.2)))
    assert got[0] == got[2] and got[1] == got[3]  # the same relative clips held out at both places
    assert len(got[0]["dev"]) == 2 * round(0.2 * 24) and len(got[0]["test"]) == 12


def test_manifest_checks(tmp_path):
    _wav(tmp_path / "a.wav")
    ok = tmp_path / "m.csv"
    ok.write_text("path,label,split\na.wav,x,train\na.wav,y,train\na.wav,x,validation\na.wav,y,test\n")
    t = la.load_task(ok)
    assert t.layout == "manifest" and t.sizes() == {"train": 2, "dev": 1, "test": 1}
    assert t.splits["train"]["path"][0] == str(tmp_path / "a.wav")
    for text, msg in (("path,label\na.wav,x\n", "missing column(s) ['split']"),
                      ("path,label,split\na.wav,x,holdout\n", "unknown split 'holdout'"),
                      ("path,label,split\na.wav,,train\n", "row 2 has an empty label"),
                      ("path,label,split\na.wav,x,train\n", "1 class(es)")):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(DatasetError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                           .replace("]", r"\]")):
            la.load_task(bad)


def test_audio_folder_and_list(tmp_path):
    _wav(tmp_path / "d" / "x" / "a.WAV")
    _wav(tmp_path / "d" / "b.flac")
    (tmp_path / "d" / "c.txt").write_text("no")
    paths, root = list_audio(tmp_path / "d")
    assert sorted(p.split("/")[-1] for p in paths) == ["a.WAV", "b.flac"]
    assert root == tmp_path / "d"
    (tmp_path / "l.csv").write_text("path\nd/b.flac\n/abs/missing.wav\n")
    paths, _ = list_audio(tmp_path / "l.csv")
    assert paths == [str(tmp_path / "d" / "b.flac"), "/abs/missing.wav"]  # missing: skipped at decode, listed
    with pytest.raises(DatasetError, match="no such folder"):
        list_audio(tmp_path / "none")


def test_embedded_recordings_are_consistent_within_a_recording(tmp_path):
    from tfaudio.datasets.recordings_embedded import generate_class_folders, generate_recordings, synth_recording

    root = generate_recordings(tmp_path / "rec", num_clips=40, seed=3)
    files = sorted(root.rglob("*.*"))
    assert len(files) == 40 and {f.suffix for f in files} == {".wav", ".flac"}
    assert min(sf.info(str(f)).duration for f in files) < 1.0  # short clips exist (padded in training)
    again = generate_recordings(tmp_path / "rec2", num_clips=40, seed=3)
    assert (root / "group0" / "rec00000.wav").read_bytes() == (again / "group0" / "rec00000.wav").read_bytes()

    def spectrum(x):
        s = np.abs(np.fft.rfft(x[:8000] / (np.std(x[:8000]) + 1e-9)))
        return np.log(s[:4000].reshape(-1, 50).mean(1) + 1e-6)

    same, other = [], []
    for k in range(6):
        x = synth_recording(k, np.random.default_rng([5, k]), 16000, 2.0)
        y = synth_recording((k + 3) % 12, np.random.default_rng([6, k]), 16000, 2.0)
        a, b, c = spectrum(x[:16000]), spectrum(x[16000:]), spectrum(y[16000:])
        same.append(np.linalg.norm(a - b))
        other.append(np.linalg.norm(a - c))
    assert np.mean(same) < np.mean(other)
    classes = generate_class_folders(tmp_path / "cls", train_per_class=2, test_per_class=1, seed=0)
    task = la.load_task(classes)
    assert len(task.classes) == 6 and task.sizes()["test"] == 6


def test_an_empty_class_folder_is_said_with_the_classes_that_remain(tmp_path, caplog):
    root = tmp_path / "task"
    for c in ("cat", "dog"):
        for i in range(10):
            _wav(root / c / f"{i}.wav")
    (root / "bird").mkdir()
    (root / "bird" / "notes.txt").write_text("no audio here")
    with caplog.at_level("WARNING", logger="tfaudio.datasets.labeled_audio"):
        t = la.load_task(root)
    assert t.classes == ["cat", "dog"]
    said = [r.getMessage() for r in caplog.records]
    assert any("bird" in m and "no audio files" in m and "2 class(es) remain: cat, dog" in m
               for m in said), said
