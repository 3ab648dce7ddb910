"""Training under tf.distribute equals training on one device.

Two worker processes on loopback (``MultiWorkerMirroredStrategy``, a ``TF_CONFIG``
each) train two real algorithms through ``core.fit``: DFE's two stages (a classifier,
then the dynamic-mask enhancer on it) and SED with masked frame / clip losses and the
diversity term. Both workers must end with the same weights, equal to one process
training on the same global batches; only the chief writes the run directory. A job
whose worker is killed mid-epoch and restarted (all workers, ``--resume``) ends where
an uninterrupted job ends. ``--strategy mirrored`` over two logical CPU devices
equals one device too. See :mod:`tests.distributed.worker`.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests import harness

pytestmark = pytest.mark.slow
TOL = 1e-4  # float32 sums in another order (all-reduce over two workers)
#: SED: Adam turns the float noise of near-zero gradients (biases before batch norm)
#: into learning-rate-sized steps, so its weights are compared looser and its loss
#: terms (every masked term, every epoch) tightly.
SED_TOL, LOSS_RTOL = 2e-3, 1e-4


def free_ports(n: int):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def tf_config(ports, index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _cmd(algo, run_dir, out, *extra):
    return [sys.executable, "-m", "tests.distributed.worker", algo, str(run_dir), str(out), *map(str, extra)]


def run_single(algo, tmp: Path, *extra) -> dict:
    res = subprocess.run(_cmd(algo, tmp / "run", tmp / "w.npz", *extra), capture_output=True, text=True,
                         timeout=harness.TIMEOUT, env=harness._env())
    assert res.returncode == 0, res.stderr[-4000:]
    return dict(np.load(tmp / "w.npz"))


def start_job(algo, run_dir: Path, outs, *extra):
    ports = free_ports(len(outs))
    return [subprocess.Popen(_cmd(algo, run_dir, out, "--strategy", "multiworker", *extra),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=harness._env({"TF_CONFIG": tf_config(ports, i)}))
            for i, out in enumerate(outs)]


def wait_job(procs):
    for p in procs:
        out, err = p.communicate(timeout=harness.TIMEOUT)
        assert p.returncode == 0, err[-4000:]


def run_job(algo, tmp: Path, *extra):
    outs = [tmp / f"w{i}.npz" for i in range(2)]
    wait_job(start_job(algo, tmp / "run", outs, *extra))
    return [dict(np.load(o)) for o in outs]


def assert_same(a: dict, b: dict, tol: float, what: str):
    assert a.keys() == b.keys() and a
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert worst <= tol, f"{what}: weights differ by {worst:.3g} (tolerance {tol})"
    moved = max(float(np.max(np.abs(a[k]))) for k in a)
    assert moved > 0


def only(weights: dict, algo: str) -> dict:
    return {k: v for k, v in weights.items() if k.startswith(algo + "/")}


def metrics(stage_dir: Path):
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (stage_dir / "metrics.jsonl").read_text().splitlines()]


EPOCHS = 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process, and a two-worker job, each training both algorithms on the same
    global batches; returns their weights and run directories."""
    single_dir, job_dir = tmp_path_factory.mktemp("single"), tmp_path_factory.mktemp("job")
    single = run_single("all", single_dir, "--epochs", EPOCHS)
    return single, run_job("all", job_dir, "--epochs", EPOCHS), single_dir / "run", job_dir / "run"


def test_two_workers_equal_one_process_multi_stage(runs):
    single, (w0, w1), _, job_dir = runs
    assert_same(only(w0, "dfe"), only(w1, "dfe"), 0.0, "worker 0 vs worker 1")
    assert_same(only(w0, "dfe"), only(single, "dfe"), TOL, "two workers vs one process")
    # the chief alone wrote the run directory; the stages completed
    for stage in ("classifier", "dfe"):
        assert json.loads((job_dir / stage / "state.json").read_text())["complete"]
        assert len(metrics(job_dir / stage)) == EPOCHS
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("tfaudio-worker-ckpt-*"))


def test_two_workers_equal_one_process_masked_frame_losses(runs):
    single, (w0, w1), single_dir, job_dir = runs
    assert_same(only(w0, "sed"), only(w1, "sed"), 0.0, "worker 0 vs worker 1")
    assert_same(only(w0, "sed"), only(single, "sed"), SED_TOL, "two workers vs one process")
    want, got = metrics(single_dir / "tri"), metrics(job_dir / "tri")
    assert len(want) == len(got) == EPOCHS and want[0].keys() == got[0].keys()
    for a, b in zip(want, got):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=LOSS_RTOL), f"{k} in epoch {a['epoch']}"


def test_killed_worker_restarted_job_ends_like_uninterrupted(runs, tmp_path):
    _, (want, _), _, _ = runs
    run_dir = tmp_path / "run"
    outs = [tmp_path / f"w{i}.npz" for i in range(2)]
    procs = start_job("dfe", run_dir, outs, "--epochs", EPOCHS, "--step-delay", 0.25)
    records = run_dir / "dfe" / "metrics.jsonl"
    deadline = time.time() + harness.TIMEOUT
    while time.time() < deadline and all(p.poll() is None for p in procs) and not (
            records.exists() and records.read_text().strip()):
        time.sleep(0.05)
    assert all(p.poll() is None for p in procs), procs[0].stderr.read()[-3000:]
    time.sleep(0.6)  # into the enhancer stage's last epoch (six batches of 0.25 s each)
    procs[1].send_signal(signal.SIGKILL)  # a worker dies mid-epoch ...
    procs[1].wait()
    time.sleep(0.5)
    procs[0].send_signal(signal.SIGKILL)  # ... and the job is restarted as a whole
    procs[0].wait()
    assert len(metrics(run_dir / "dfe")) < EPOCHS, "the kill landed after training finished"
    wait_job(start_job("dfe", run_dir, outs, "--epochs", EPOCHS, "--resume"))
    got = [dict(np.load(o)) for o in outs]
    assert_same(got[0], got[1], 0.0, "restarted workers")
    assert_same(got[0], only(want, "dfe"), 0.0, "restarted job vs uninterrupted job")
    assert len(metrics(run_dir / "dfe")) == EPOCHS


def test_mirrored_on_two_logical_cpus_equals_one_device(runs, tmp_path):
    single, _, _, _ = runs
    mirrored = run_single("dfe", tmp_path, "--epochs", EPOCHS, "--strategy", "mirrored", "--logical-cpus", 2)
    assert_same(mirrored, only(single, "dfe"), TOL, "mirrored (2 logical CPUs) vs one device")


def test_multiworker_without_tf_config_is_one_line(tmp_path):
    res = harness.run_cli("tfaudio.cli.train", ["dfe", "--run-dir", tmp_path, "--strategy", "multiworker"],
                          env={"TF_CONFIG": ""})
    harness.assert_user_error(res, "TF_CONFIG")
