"""A tiny regression task for the training-loop tests (imported by their subprocesses)."""
import keras
import numpy as np
import tensorflow as tf

from tfaudio.training import core


class Regression(core.Task):
    """``y ~ model(x)`` with squared error; ``hidden`` units (0: linear), Adam or SGD."""

    monitor, monitor_mode = "dev_loss", "min"

    def __init__(self, hidden: int = 0, optimizer: str = "adam", lr: float = 1e-2):
        self.hidden, self.optimizer, self.lr = hidden, optimizer, lr

    def build(self):
        layers = [keras.Input((4,))]
        if self.hidden:
            layers.append(keras.layers.Dense(self.hidden, activation="relu"))
        self.model = keras.Sequential(layers + [keras.layers.Dense(1)])
        opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[self.optimizer]
        self.opt = opt(self.lr)
        self.opt.build(self.model.trainable_variables)

    def checkpoint_items(self):
        return {"model": self.model, "optimizer": self.opt}

    def train_step(self, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            per_example = tf.square(self.model(x)[:, 0] - y)
            loss = core.replica_loss(per_example)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.opt.apply_gradients(zip(grads, self.model.trainable_variables))
        return {"loss": tf.reduce_mean(per_example)}

    def evaluate(self, ds):
        errs = [float(tf.reduce_mean(tf.square(self.model(x)[:, 0] - y))) for x, y in ds]
        return {"dev_loss": float(np.mean(errs))}

    def weights(self) -> np.ndarray:
        return np.concatenate([w.numpy().ravel() for w in self.model.weights])
