"""``core.replica_loss`` summed over replicas is the loss of one device seeing the
whole batch: uneven splits, masks labelling different amounts per replica, none."""
import subprocess
import sys

SCRIPT = r"""
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfaudio.training import core

strategy = core.make_strategy("mirrored")
assert strategy.num_replicas_in_sync == 2
rng = np.random.default_rng(0)
worst = 0.0
for n, p in ((7, 0.3), (8, 0.9), (5, 0.0), (1, 0.5)):
    values = rng.random((n, 4, 3)).astype(np.float32)
    mask = (rng.random((n, 4, 3)) < p).astype(np.float32)
    mask[: n // 2] = 0.0  # the first replica's half labels nothing
    ds = tf.data.Dataset.from_tensor_slices((values, mask)).batch(n)
    for v, m in strategy.experimental_distribute_dataset(ds):
        plain = strategy.reduce("SUM", strategy.run(lambda v, m: core.replica_loss(v), (v, m)), axis=None)
        masked = strategy.reduce("SUM", strategy.run(lambda v, m: core.replica_loss(v, m), (v, m)), axis=None)
    want_plain = values.mean()
    want_masked = (values * mask).sum() / max(mask.sum(), 1.0)
    worst = max(worst, abs(float(plain) - want_plain), abs(float(masked) - want_masked))
    print(n, float(plain), want_plain, float(masked), want_masked)
print("WORST", worst)
"""


def test_replica_shares_sum_to_the_global_mean_over_two_replicas():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert float(res.stdout.split("WORST")[-1]) < 1e-6, res.stdout
