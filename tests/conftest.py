"""Shared fixtures. Every test run uses its own cache folder (embedded data, features)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Point TFAUDIO_CACHE at a per-session folder so tests never touch ~/.cache."""
    path = tmp_path_factory.mktemp("tfaudio-cache")
    old = os.environ.get("TFAUDIO_CACHE")
    os.environ["TFAUDIO_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TFAUDIO_CACHE", None)
    else:
        os.environ["TFAUDIO_CACHE"] = old
