"""Embedded sets are built once, atomically, and survive a concurrent builder."""
import pytest

from tfaudio.data.cache import build_once


def _writer(text, calls):
    def build(tmp):
        calls.append(text)
        (tmp / "data.txt").write_text(text)
    return build


def test_built_once_then_cached_and_force_replaces(tmp_path):
    calls = []
    final = build_once(tmp_path / "set", "v1", _writer("a", calls))
    assert (final / "data.txt").read_text() == "a" and (final / "DONE").read_text() == "v1\n"
    build_once(final, "v1", _writer("b", calls))
    assert calls == ["a"] and (final / "data.txt").read_text() == "a"
    build_once(final, "v1", _writer("c", calls), force=True)
    assert calls == ["a", "c"] and (final / "data.txt").read_text() == "c"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_interrupted_build_leaves_nothing_and_damaged_set_is_rebuilt(tmp_path):
    def boom(tmp):
        (tmp / "half.txt").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_once(tmp_path / "set", "v1", boom)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "set").mkdir()  # a folder without DONE: not a finished set
    (tmp_path / "set" / "junk").write_text("x")
    final = build_once(tmp_path / "set", "v1", _writer("a", []))
    assert sorted(p.name for p in final.iterdir()) == ["DONE", "data.txt"]


def test_a_concurrent_builder_that_finishes_first_wins(tmp_path):
    final = tmp_path / "set"

    def slow_build(tmp):
        (tmp / "data.txt").write_text("mine")
        # another process completes the same set while this one is still building
        build_once(final, "v1", _writer("theirs", []))

    assert build_once(final, "v1", slow_build) == final
    assert (final / "data.txt").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
