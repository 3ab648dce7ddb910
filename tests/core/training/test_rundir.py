"""A run directory's config.json: written once, later stages checked against its
invariants (dotted keys, ignored fields), read back with the keys a system adds."""
import json
from dataclasses import dataclass, field

import pytest

from tfaudio.errors import RunDirError
from tfaudio.training import rundir


@dataclass(frozen=True)
class Model:
    width: int = 4
    fast_path: bool = False


@dataclass(frozen=True)
class Data:
    clip_seconds: float = 2.0
    root: str = "a"


@dataclass(frozen=True)
class Config:
    model: Model = field(default_factory=Model)
    data: Data = field(default_factory=Data)


def _cfg(width=4, fast=False, clip=2.0, root="a"):
    return {"model": {"width": width, "fast_path": fast}, "data": {"clip_seconds": clip, "root": root}}


def test_written_once_then_checked(tmp_path):
    run = tmp_path / "run"
    inv, ignore = ("model", "data.clip_seconds"), ("model.fast_path",)
    rundir.record_config(run, "toy", _cfg(), inv, ignore)
    assert json.loads((run / "config.json").read_text())["system"] == "toy"
    rundir.record_config(run, "toy", _cfg(fast=True, root="b"), inv, ignore)  # not invariant: accepted
    assert rundir.read_config(run)["data"]["root"] == "a"  # and the record is not rewritten
    with pytest.raises(RunDirError, match="different model configuration"):
        rundir.record_config(run, "toy", _cfg(width=8), inv, ignore)
    with pytest.raises(RunDirError, match="different data.clip_seconds configuration"):
        rundir.record_config(run, "toy", _cfg(clip=4.0), inv, ignore)
    with pytest.raises(RunDirError, match="'toy' run, not 'other'"):
        rundir.record_config(run, "other", _cfg(), inv, ignore)


def test_load_returns_the_config_and_the_system_s_own_keys(tmp_path):
    with pytest.raises(RunDirError, match="holds no trained Toy run"):
        rundir.load_config(tmp_path, "toy", Config, "Toy")
    rundir.record_config(tmp_path, "toy", {"classes": ["x", "y"], **_cfg(width=8)}, ("model",))
    cfg, extra = rundir.load_config(tmp_path, "toy", Config, "Toy")
    assert cfg == Config(model=Model(width=8)) and extra == {"classes": ["x", "y"]}
    with pytest.raises(RunDirError, match="not Other"):
        rundir.load_config(tmp_path, "other", Config, "Other")


def test_an_update_hook_fills_in_the_record_then_the_invariants_are_checked(tmp_path):
    inv = ("model", "data")

    def add_root(old, new):  # a root may be filled in while the record has none
        if old["data"]["root"] is None:
            old["data"]["root"] = new["data"]["root"]
            return True
        return False

    rundir.record_config(tmp_path, "toy", _cfg(root=None), inv, update=add_root)
    rundir.record_config(tmp_path, "toy", _cfg(root="b"), inv, update=add_root)
    assert rundir.read_config(tmp_path)["data"]["root"] == "b"  # written back
    with pytest.raises(RunDirError, match="different data configuration"):
        rundir.record_config(tmp_path, "toy", _cfg(root="c"), inv, update=add_root)
    assert rundir.read_config(tmp_path)["data"]["root"] == "b"
