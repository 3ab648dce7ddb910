"""One tiny SED run (tri-training + time adversarial, 2 epochs per phase on a tiny
embedded set) shared by the export, detect and evaluation tests."""

import pytest

from tests.harness import recipe_file

SED_TINY = {
    "data": {"embedded_sizes": [10, 10, 6, 6], "embedded_rate": 8000, "dev_fraction": 0.2,
             "synthetic_dev_fraction": 0.2},
    "frontend": {"sample_rate": 8000, "frame_length": 256, "frame_step": 250, "num_mel_bins": 16},
    "model": {"filters": [4, 8], "pools": [[2, 2], [2, 4]], "dropout": 0.1, "gru_units": 8, "gru_layers": 1,
              "head_units": 8, "domain_units": 8},
    "train": {"batch_size": 4, "epochs": 2},
    "post": {"median_frames": 3},
}


@pytest.fixture(scope="session")
def sed_recipe(tmp_path_factory):
    return recipe_file(tmp_path_factory, "sed", SED_TINY)


@pytest.fixture(scope="session")
def tiny_sed_run(tmp_path_factory):
    from tfaudio.config import merge
    from tfaudio.systems.sed import train as T
    from tfaudio.systems.sed.config import SEDConfig

    run_dir = tmp_path_factory.mktemp("sed-tiny") / "run"
    cfg = merge(SEDConfig(), SED_TINY)
    T.train(cfg, "tri-training", "time", run_dir, progress=False, say=lambda *_: None)
    return run_dir
