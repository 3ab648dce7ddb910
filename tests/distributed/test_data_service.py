"""Training input through the tf.data service: a dispatcher and two workers in-process
(started through ``tfaudio-data-service``'s own code)."""
from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import harness
from tfaudio.cli.data_service import build_parser, start
from tfaudio.data import service
from tfaudio.training import core


@pytest.fixture
def cluster():
    dispatcher = start(build_parser().parse_args(["dispatcher", "--port", "0", "--worker-timeout", "0.5"]))
    address = dispatcher.target
    workers = [start(build_parser().parse_args(["worker", "--dispatcher", address])) for _ in range(2)]
    yield address, workers
    for w in workers:
        w._stop()
    dispatcher._stop()


def clips(n: int) -> tf.data.Dataset:
    """A DFE-like input: arrays sliced, shuffled with a seed, batched."""
    x = np.arange(n, dtype=np.int64)
    return tf.data.Dataset.from_tensor_slices(x).shuffle(n, seed=3, reshuffle_each_iteration=False).batch(8)


def test_distributed_epoch_delivers_every_example_once(cluster):
    address, _ = cluster
    ds = clips(203)
    assert service.resolve_mode(ds) == "distributed_epoch"
    got = np.concatenate([b.numpy() for b in service.distribute(ds, address)])
    assert sorted(got.tolist()) == list(range(203))


def test_unsplittable_source_reads_parallel_epochs_bounded_to_the_epoch(cluster):
    """A SED-like input (sampled from several repeated sources) cannot be split."""
    address, _ = cluster
    a = tf.data.Dataset.range(0, 10).repeat()
    b = tf.data.Dataset.range(100, 110).repeat()
    ds = tf.data.Dataset.sample_from_datasets([a, b], [0.5, 0.5], seed=1).batch(4)
    assert service.resolve_mode(ds) == "parallel_epochs"
    batches = [x.numpy() for x in service.distribute(ds, address, steps=7)]
    assert len(batches) == 7 and all(len(x) == 4 for x in batches)


class Linear(core.Task):
    monitor, monitor_mode = "dev_loss", "min"

    def build(self):
        self.model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        self.optimizer = keras.optimizers.SGD(0.05)
        self.optimizer.build(self.model.trainable_variables)

    def checkpoint_items(self):
        return {"model": self.model, "optimizer": self.optimizer}

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            err = self.model(batch["x"])[:, 0] - batch["y"]
            loss = core.replica_loss(tf.square(err))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return {"loss": tf.reduce_mean(tf.square(err))}

    def evaluate(self, dataset):
        return {"dev_loss": float(np.mean([float(tf.reduce_mean(tf.square(self.model(b["x"])[:, 0] - b["y"])))
                                          for b in dataset]))}


def linear_data(n=4000):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices({"x": x, "y": y})


@pytest.mark.slow
@pytest.mark.parametrize("mode,comes_back", [("parallel_epochs", False), ("distributed_epoch", True)])
def test_training_completes_when_a_worker_stops_mid_epoch(cluster, tmp_path, mode, comes_back):
    """parallel_epochs carries on with the workers left; distributed_epoch waits for
    the stopped worker to come back at its address (what a supervisor restarting
    ``tfaudio-data-service worker --port P`` does) and carries on."""
    address, workers = cluster
    data = linear_data()
    task = Linear()
    stopped = {}

    def stop_one_worker_mid_epoch():
        deadline = time.time() + 120
        while time.time() < deadline:
            if task.step_counter is not None and int(task.step_counter.numpy()) >= 20 \
                    and int(task.epoch_counter.numpy()) == 0:
                port = workers[1]._address.rsplit(":", 1)[1]
                workers[1]._stop()
                stopped["at_step"] = int(task.step_counter.numpy())
                if comes_back:
                    time.sleep(1.0)
                    workers[1] = start(build_parser().parse_args(["worker", "--dispatcher", address,
                                                                  "--port", port]))
                    stopped["restarted"] = True
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=stop_one_worker_mid_epoch, daemon=True)
    watcher.start()
    result = core.fit(task, core.seeded_batches(data, 8, seed=0), data.take(64).batch(32), tmp_path / "s",
                      epochs=3, progress=False, data_service=address, data_service_mode=mode)
    watcher.join(timeout=5)
    assert stopped, "the worker was not stopped during the first epoch"
    assert stopped["at_step"] < 500 - 1  # mid-epoch: an epoch is 500 batches
    assert stopped.get("restarted", False) == comes_back
    assert result.epochs_run == 3 and core.stage_complete(tmp_path / "s")
    assert result.history[-1]["dev_loss"] < 1e-3  # it learned y = x . w


def test_generator_input_is_rejected_in_one_line(cluster, tmp_path):
    address, _ = cluster
    gen = tf.data.Dataset.from_generator(lambda: ({"x": np.zeros(4, np.float32), "y": np.float32(0)}
                                                  for _ in range(8)),
                                         output_signature={"x": tf.TensorSpec([4], tf.float32),
                                                           "y": tf.TensorSpec([], tf.float32)})
    with pytest.raises(service.DataServiceError, match="from_generator.*without --data-service"):
        core.fit(Linear(), gen.batch(4), None, tmp_path / "g", epochs=1, progress=False, data_service=address)


def test_bad_address_is_one_line(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["dfe", "--run-dir", tmp_path, "--data-service", "localhost:5050"])
    harness.assert_user_error(res, "grpc://HOST:PORT")


def test_help_teaches():
    res = harness.run_cli("tfaudio.cli.data_service", ["--help"])
    assert res.returncode == 0 and "tfaudio-train dfe --data-service grpc://" in res.stdout
    res = harness.run_cli("tfaudio.cli.data_service", ["dispatcher", "--fault-tolerant"])
    harness.assert_user_error(res, "--work-dir")
