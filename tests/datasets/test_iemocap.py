"""The IEMOCAP reader: EmoEvaluation parsing, four-emotion set, LOSO folds, errors."""
from __future__ import annotations

import shutil

import pytest

from tfaudio.datasets import iemocap
from tfaudio.datasets.iemocap_embedded import write_iemocap_tree
from tfaudio.errors import DatasetError

EMO = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]
[14.8872 - 18.0175]\tSes01F_impro01_F002\tfru\t[2.0000, 3.5000, 3.5000]
"""


def test_emo_evaluation_parsing(tmp_path):
    p = tmp_path / "Ses01F_impro01.txt"
    p.write_text(EMO)
    rows = iemocap.read_emo_evaluation(p)
    assert rows == [("Ses01F_impro01_F000", "neu", 6.2901, 8.2357), ("Ses01F_impro01_M001", "exc", 10.01, 11.3925),
                    ("Ses01F_impro01_F002", "fru", 14.8872, 18.0175)]
    assert iemocap.speaker_of("Ses01F_impro01_M001") == "Ses01M"
    assert iemocap.EMOTION_MAP["exc"] == iemocap.EMOTION_MAP["hap"] == "happiness"
    assert "fru" not in iemocap.EMOTION_MAP


@pytest.mark.parametrize("line, message", [("[1.0 - 2.0]\tSes01F_impro01_F000\tzzz\t[1, 1, 1]", "unknown emotion"),
                                           ("[1.0 - 2.0] broken", "not an utterance line"),
                                           ("[1.0 - 2.0]\tSomething_F000\tneu\t[1, 1, 1]", "not an IEMOCAP")])
def test_bad_emo_lines_name_file_and_line(tmp_path, line, message):
    p = tmp_path / "d.txt"
    p.write_text(line + "\n")
    with pytest.raises(DatasetError, match=message) as exc:
        iemocap.read_emo_evaluation(p)
    assert f"{p}:1" in str(exc.value)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("iemocap")
    write_iemocap_tree(root, utterances_per_emotion=1, dialogs_per_session=1, max_seconds=1.3)
    return root


def test_embedded_tree_reads_and_folds_are_leave_one_speaker_out(tree):
    utts = iemocap.iemocap_utterances(tree)
    # 10 speakers x 4 emotions (the fru / xxx turns are left out)
    assert len(utts) == 40 and {u.emotion for u in utts} == set(iemocap.EMOTIONS)
    assert {u.label for u in utts} <= {"ang", "hap", "exc", "sad", "neu"}
    folds = iemocap.loso_folds(utts)
    assert len(folds) == 8
    assert [f.test_speaker for f in folds] == ["Ses01F", "Ses01M", "Ses02F", "Ses02M", "Ses03F", "Ses03M",
                                               "Ses04F", "Ses04M"]
    for f in folds:
        assert f.dev == ("Ses05F", "Ses05M")
        assert f.test_speaker not in f.train and len(f.train) == 7 and not set(f.train) & set(f.dev)


def test_missing_emo_evaluation_and_missing_wav(tree, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    shutil.rmtree(copy / "Session3" / "dialog" / "EmoEvaluation")
    with pytest.raises(DatasetError, match="EmoEvaluation: missing"):
        iemocap.iemocap_utterances(copy)
    copy2 = tmp_path / "copy2"
    shutil.copytree(tree, copy2)
    wav = sorted(copy2.glob("Session2/sentences/wav/*/*_F000.wav"))[0]
    wav.unlink()
    with pytest.raises(DatasetError, match="labelled in .* but missing"):
        iemocap.iemocap_utterances(copy2)
    with pytest.raises(DatasetError, match="no Session1/"):
        iemocap.iemocap_utterances(tmp_path)
