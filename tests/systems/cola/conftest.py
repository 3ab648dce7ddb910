"""One tiny COLA run (pretrain, linear probe, supervised baseline; 2 epochs each, a
quarter-width EfficientNet on a tiny embedded set) shared by the export, embed and
evaluation tests."""

import pytest

from tests.harness import recipe_file

COLA_TINY = {
    "model": {"width": 0.25, "depth": 0.25, "projection_units": 16, "bn_momentum": 0.9},
    "data": {"embedded_clips": 40, "shuffle_buffer": 100},
    "train": {"batch_size": 8, "epochs": 2, "learning_rate": 0.001},
    "downstream": {"batch_size": 16, "epochs": 2, "embedded_train_per_class": 5, "embedded_test_per_class": 2,
                   "embedded_seconds": 2.0},
}


@pytest.fixture(scope="session")
def cola_recipe(tmp_path_factory):
    return recipe_file(tmp_path_factory, "cola", COLA_TINY)


@pytest.fixture(scope="session")
def tiny_cola_run(tmp_path_factory):
    from tfaudio.config import merge
    from tfaudio.systems.cola import train as T
    from tfaudio.systems.cola.config import ColaConfig

    run_dir = tmp_path_factory.mktemp("cola-tiny") / "run"
    cfg = merge(ColaConfig(), COLA_TINY)
    quiet = lambda *_: None  # noqa: E731
    T.train_pretrain(cfg, run_dir, progress=False, say=quiet)
    T.train_downstream(cfg, "linear", "pretrained", run_dir, progress=False, say=quiet)
    T.train_downstream(cfg, "finetune", "random", run_dir, progress=False, say=quiet)
    return run_dir
