"""Version folders: the newest complete one is served / used; a new export takes a
number no folder has, complete or not; names that are not integers are not versions."""
from tfaudio.export.versions import latest_version, next_version, version_folders


def test_latest_complete_and_next_free_version(tmp_path):
    model = tmp_path / "m"
    assert latest_version(model) is None and next_version(model) == 1
    for v in (1, 2, 10):
        (model / str(v)).mkdir(parents=True)
        (model / str(v) / "saved_model.pb").write_bytes(b"x")
    (model / "11").mkdir()  # an export that stopped before its SavedModel
    (model / ".12.tmp").mkdir()  # a running export's temporary
    (model / "notes").mkdir()
    assert [p.name for p in version_folders(model)] == ["1", "2", "10", "11"]
    assert latest_version(model).name == "10"  # by number, not by name
    assert next_version(model) == 12


def test_latest_export_is_the_default_model_or_a_clear_error(tmp_path):
    import pytest

    from tfaudio.errors import ExportError
    from tfaudio.export.versions import latest_export

    with pytest.raises(ExportError, match=r"no exported SED model under .*sed; pass --model "
                                          r"or run tfaudio-export sed"):
        latest_export("sed", "SED model", base=tmp_path)
    (tmp_path / "sed" / "3").mkdir(parents=True)
    (tmp_path / "sed" / "3" / "saved_model.pb").write_bytes(b"x")
    (tmp_path / "sed" / "4").mkdir()  # incomplete
    assert latest_export("sed", "SED model", base=tmp_path).name == "3"
