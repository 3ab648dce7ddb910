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


QUALITYNET_TINY_MODEL = {"lstm_units": 8, "dense_units": [6], "lstm_chunk": 4, "lstm_block": 2}


@pytest.fixture(scope="session")
def tiny_qualitynet_run(tmp_path_factory):
    """One tiny Quality-Net run (1 epoch on toy manifests), shared by the tests that
    evaluate, export or score a trained run. Returns ``(run_dir, toy_manifests)``."""
    from tests.systems.qualitynet.toy import make_toy_manifests
    from tfaudio.systems.qualitynet import train as T

    root = tmp_path_factory.mktemp("qualitynet-tiny")
    toy = make_toy_manifests(root / "data", n_train=10, n_dev=4, n_test=8)
    cfg = T.with_overrides(T.QualityNetRunConfig(), {
        "data": {"manifest": str(toy["train"]), "dev_manifest": str(toy["dev"])},
        "model": QUALITYNET_TINY_MODEL, "train": {"epochs": 1, "batch_size": 4}})
    T.train(cfg, root / "run", progress=False, say=lambda *_: None)
    return root / "run", toy
