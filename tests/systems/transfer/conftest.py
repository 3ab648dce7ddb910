"""One tiny transfer sweep (both base models, l in {2, 5} both ways, LOSO
fold 0) shared by the freezing, evaluation and export tests."""

import pytest

from tests.harness import recipe_file

TRANSFER_TINY = {
    "data": {"embedded_timit": [3, 1, 1, 3], "embedded_iemocap": [1, 1], "folds": [0], "gmm_iterations": 3},
    "model": {"conv_filters": [4, 8], "fc_units": [16, 16, 16], "bn_momentum": 0.9},
    "train": {"batch_size": 64, "epochs": 2, "patience": 3, "frozen": [2, 5], "learning_rate_ser": 0.001},
    "decoder": {"acoustic_scales": [0.5, 1.0], "insertion_penalties": [0.0]},
}


@pytest.fixture(scope="session")
def transfer_recipe(tmp_path_factory):
    return recipe_file(tmp_path_factory, "transfer", TRANSFER_TINY)


@pytest.fixture(scope="session")
def tiny_cfg():
    from tfaudio.config import merge
    from tfaudio.systems.transfer.config import TransferConfig

    return merge(TransferConfig(), TRANSFER_TINY)


@pytest.fixture(scope="session")
def tiny_transfer_run(tmp_path_factory, tiny_cfg):
    from tfaudio.systems.transfer import train as T

    run_dir = tmp_path_factory.mktemp("transfer-tiny") / "run"
    T.train(tiny_cfg, "sweep", run_dir, progress=False, say=lambda *_: None)
    return run_dir
