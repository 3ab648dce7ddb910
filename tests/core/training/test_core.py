"""The shared training loop: checkpoints, best model, resume after a real kill."""
import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

REPO = str(__import__("pathlib").Path(__file__).resolve().parents[3])  # the subprocesses import tests.*

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np, tensorflow as tf, keras
    from tfaudio.training import core

    tf.config.experimental.enable_op_determinism()
    stage_dir, epochs, resume, slow = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])

    from tests.core.training.tiny import Regression

    rng = np.random.default_rng(0)
    x = rng.standard_normal((160, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32")).astype("float32")

    def pause(a, b):
        time.sleep(slow)
        return a, b

    base = tf.data.Dataset.from_tensor_slices((x, y))
    batches = core.seeded_batches(base, 16, seed=1)
    train = lambda e: batches(e).map(
        lambda a, b: tf.numpy_function(pause, [a, b], [tf.float32, tf.float32]))
    task = Regression(hidden=8)
    core.fit(task, train, base.batch(32), stage_dir, epochs, config={"lr": 0.01}, resume=resume,
             seed=3, progress=False)
    np.save(stage_dir + "/final.npy", task.weights())
    """
)


def run(stage_dir, epochs, resume, slow=0.0, **kw):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(stage_dir), str(epochs), "1" if resume else "0", str(slow)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, **kw,
    )


def epochs_logged(stage_dir):
    path = stage_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines()]


def test_resume_after_kill_continues_and_matches_uninterrupted(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    p = run(full, 5, False)
    out = p.communicate(timeout=240)[0]
    assert p.returncode == 0, out
    assert epochs_logged(full) == [1, 2, 3, 4, 5]
    state = json.loads((full / "state.json").read_text())
    assert state["complete"] and 1 <= state["best_epoch"] <= 5
    assert json.loads((full / "config.json").read_text()) == {"lr": 0.01}
    assert (full / "best.json").exists() and any((full / "tb").iterdir())

    p = run(killed, 5, False, slow=0.05)
    deadline = time.time() + 240
    while len(epochs_logged(killed)) < 2 and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = epochs_logged(killed)
    assert 2 <= len(done) < 5, f"kill landed at {done}"
    assert not json.loads((killed / "state.json").read_text())["complete"]

    p = run(killed, 5, False)  # without --resume: refused, nothing overwritten
    out = p.communicate(timeout=240)[0]
    assert p.returncode != 0 and "--resume" in out

    p = run(killed, 5, True)
    out = p.communicate(timeout=240)[0]
    assert p.returncode == 0, out
    logged = epochs_logged(killed)
    assert logged[: len(done)] == done and logged[len(done):] == list(range(len(done) + 1, 6))
    np.testing.assert_allclose(np.load(killed / "final.npy"), np.load(full / "final.npy"), rtol=1e-5, atol=1e-6)


def test_restore_best_rejects_a_mismatched_model(tmp_path):
    import keras
    import tensorflow as tf

    from tfaudio.training import core

    a = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    ckpt = tf.train.Checkpoint(model=core.trackable(a))
    ckpt.save(str(tmp_path / "best" / "ckpt"))
    b = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    core.restore_best(tmp_path, {"model": b})
    np.testing.assert_array_equal(a.weights[0].numpy(), b.weights[0].numpy())
    c = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(2)])
    with pytest.raises(AssertionError):
        core.restore_best(tmp_path, {"model": c})
    with pytest.raises(core.RunDirError, match="no best checkpoint"):
        core.restore_best(tmp_path / "nothing", {"model": b})


MIRRORED = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfaudio.training import core

    from tests.core.training.tiny import Regression

    x = np.random.default_rng(0).standard_normal((64, 4)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, x.sum(1)))
    out = {}
    for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                           ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        task = Regression(optimizer="sgd", lr=0.1)
        core.fit(task, lambda e: ds.batch(16), ds.batch(32), sys.argv[1] + "/" + name, 3, seed=0,
                 progress=False, strategy=strategy)
        out[name] = task.weights()
    assert task.model.weights[0].numpy().shape == (4, 1)
    print("MAXDIFF", float(np.abs(out["one"] - out["mirrored"]).max()))
    """
)


def test_mirrored_strategy_over_two_devices_matches_one_device(tmp_path):
    res = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path)], capture_output=True, text=True,
                         timeout=240, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    diff = float(res.stdout.split("MAXDIFF")[-1])
    assert diff < 1e-5
    assert (tmp_path / "mirrored" / "state.json").exists()


def test_variable_length_batches_trace_the_step_once(tmp_path):
    """Batch 1 of a new length every step (Quality-Net's paper recipe) and a last
    partial batch reuse one graph: the step is compiled for the data's element spec."""
    import keras
    import tensorflow as tf

    from tfaudio.training import core

    class Pool(core.Task):
        monitor, monitor_mode = "dev_loss", "min"

        def build(self):
            self.dense = keras.layers.Dense(1)
            self.dense.build((None, 1))
            self.opt = keras.optimizers.SGD(0.01)
            self.opt.build(self.dense.trainable_variables)

        def checkpoint_items(self):
            return {"dense": self.dense, "optimizer": self.opt}

        def train_step(self, batch):
            with tf.GradientTape() as tape:
                pooled = tf.reduce_mean(batch["x"], axis=1, keepdims=True)
                loss = core.replica_loss(tf.square(self.dense(pooled)[:, 0] - batch["y"]))
            grads = tape.gradient(loss, self.dense.trainable_variables)
            self.opt.apply_gradients(zip(grads, self.dense.trainable_variables))
            return {"loss": loss}

        def evaluate(self, ds):
            return {"dev_loss": 0.0}

    lengths = [5, 9, 7, 12, 3, 8, 11]
    rng = np.random.default_rng(0)

    def gen():
        for n in lengths:
            yield {"x": rng.standard_normal((1, n)).astype("float32"), "y": np.ones(1, "float32")}

    spec = {"x": tf.TensorSpec([None, None], tf.float32), "y": tf.TensorSpec([None], tf.float32)}
    ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
    result = core.fit(Pool(), lambda e: ds, None, tmp_path / "s", 2, progress=False)
    assert result.traces == 1
    assert len(result.history) == 2 and np.isfinite(result.history[-1]["train_loss"])


def test_seeded_batches_pad_variable_length_elements_and_can_drop_the_remainder():
    import tensorflow as tf

    from tfaudio.training import core

    ds = tf.data.Dataset.range(1, 8).map(lambda n: tf.ones([n]))
    make = core.seeded_batches(ds, 3, seed=0, padded=True, drop_remainder=True)
    batches = [b.numpy() for b in make(0)]
    assert len(batches) == 2  # 7 elements: the last, short batch is dropped
    for b in batches:
        assert b.shape[0] == 3 and b.shape[1] == int(b.sum(1).max())  # padded to the longest
    again = [b.numpy() for b in make(0)]
    assert all((a == b).all() for a, b in zip(batches, again))
