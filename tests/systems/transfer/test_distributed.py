"""The transfer step on two logical CPUs equals one device on the same global batch
(cross entropy and the conv kernels' l2 term each counted once): the batch repeats one
half, so every replica's batch-norm statistics are those of the whole batch."""
import numpy as np

from tests.harness import run_on_two_cpus

SCRIPT = """
    from tfaudio.config import merge
    from tfaudio.systems.transfer import train as T
    from tfaudio.systems.transfer.config import TransferConfig
    from tfaudio.training import core

    cfg = merge(TransferConfig(), {"model": {"conv_filters": [4, 8], "fc_units": [16, 16, 16], "dropout": 0.0,
                                             "l2": 0.5}})
    rng = np.random.default_rng(0)
    half = rng.standard_normal((8, 2 * cfg.data.context + 1, cfg.frontend.num_mel_bins)).astype("float32")
    labels = rng.integers(0, 5, 8).astype("int32")
    x, y = np.concatenate([half, half]), np.concatenate([labels, labels])
    stats = (np.zeros(cfg.frontend.num_mel_bins), np.ones(cfg.frontend.num_mel_bins))
    out = {}
    for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                           ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        tf.keras.utils.set_random_seed(0)
        with strategy.scope():
            task = T.FrameTask(cfg, "ser", stats, trainable=T.BLOCKS)
            task.build()
        ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(16))
        batch = next(iter(ds))
        logged = strategy.run(task.train_step, args=(batch,))
        logged = {k: float(strategy.reduce("MEAN", v, axis=None)) for k, v in logged.items()}
        out[name + "_weights"] = np.concatenate([v.numpy().ravel() for v in task.variables])
        out[name + "_logged"] = np.array([logged["loss"], logged["ce"], logged["l2"]])
        out[name + "_replicas"] = np.array([strategy.num_replicas_in_sync])
    np.savez(sys.argv[1], **out)
    """


def test_two_replicas_take_the_single_device_step(tmp_path):
    out = run_on_two_cpus(SCRIPT, tmp_path)
    assert int(out["two_replicas"][0]) == 2
    assert out["one_logged"][2] > 0.01  # the l2 term matters in this step
    np.testing.assert_allclose(out["two_weights"], out["one_weights"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["two_logged"], out["one_logged"], rtol=1e-5)  # logged as on one device
