"""One test harness for every system: a system's tests are a few calls with its tiny config.

* :func:`run_cli` / :func:`assert_user_error` - a command in a fresh process; a user
  error is exit 2 and one line naming the thing at fault, never a traceback.
* :func:`check_help` - ``--help`` of each of a system's commands answers and teaches.
* :func:`check_config_roundtrip` - a config survives dict -> JSON -> dataclass.
* :func:`check_resume_exact` - training killed with SIGKILL (at an epoch end and
  mid-epoch) and resumed ends bit for bit where an uninterrupted run ends: every
  checkpointed variable, the best checkpoint and every metrics line.
* :func:`check_export_versioning` - versions count up, are never overwritten, and a
  dead writer's temporary folder is cleaned by the next export.
* :func:`check_reload_in_fresh_process` - a SavedModel reloads in a new process and
  gives the outputs the exporting process saw.
* :func:`check_tflite_parity` - the TFLite twin (builtin ops only) matches the SavedModel.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np

ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg", "TF_DETERMINISTIC_OPS": "1"}
TIMEOUT = 600


def _env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(ENV)
    env.update(extra or {})
    return env


def run_cli(module: str, args: Sequence[str], timeout: float = TIMEOUT, **kw) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` in a fresh process (the console scripts' code path)."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=_env(kw.pop("env", None)), **kw)



#: prepended to :func:`run_on_two_cpus` scripts: the CPU split into two logical devices
TWO_CPUS = """
import sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def run_on_two_cpus(script: str, tmp_path: Path, timeout: float = 300):
    """Run ``script`` (after :data:`TWO_CPUS`, with ``sys``, ``np`` and ``tf`` imported)
    in a fresh process that sees two logical CPUs; it saves its results with
    ``np.savez(sys.argv[1], ...)``, and these are returned (the process must succeed)."""
    out = tmp_path / "out.npz"
    res = subprocess.run([sys.executable, "-c", TWO_CPUS + textwrap.dedent(script), str(out)],
                         capture_output=True, text=True, timeout=timeout, env=_env())
    assert res.returncode == 0, res.stderr[-4000:]
    return np.load(out)

#: lines that are not tfaudio's: TensorFlow's C++ log (absl format), Python warnings
#: (any ``...Warning:``), a logger outside tfaudio, a traceback
_FOREIGN = re.compile(r"^[IWEF]\d{4} |^WARNING: All log messages|\w+Warning: |^Traceback |"
                      r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)[ :](?!tfaudio)")


def user_env() -> Dict[str, str]:
    """The test environment as a user has it: TensorFlow's C++ log level not lowered."""
    env = _env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def assert_only_tfaudio_lines(stderr: str) -> None:
    """Every line on stderr is tfaudio's own: no TensorFlow log line, no third-party
    warning, no traceback (run the command with :func:`user_env`)."""
    foreign = [line for line in stderr.splitlines() if _FOREIGN.search(line)]
    assert not foreign, "not tfaudio's lines on stderr:\n" + "\n".join(foreign[:20])


def assert_user_error(res, *must_contain: str) -> str:
    """Exit status 2, no traceback, and one ``error:`` line that holds every given text."""
    err = res.stderr
    assert res.returncode == 2, f"exit {res.returncode}\nstdout: {res.stdout[-2000:]}\nstderr: {err[-4000:]}"
    assert "Traceback" not in err, err[-4000:]
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err[-4000:]
    for text in must_contain:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def check_help(command_module: str, system: str, words: Sequence[str] = ()) -> str:
    res = run_cli(command_module, [system, "--help"], timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    for word in words:
        assert word in res.stdout, f"{word!r} missing from {command_module} {system} --help"
    return res.stdout


def recipe_file(tmp_path_factory, system: str, recipe: Mapping) -> Path:
    """A tiny recipe written as JSON, for ``--config`` in the CLI tests."""
    path = tmp_path_factory.mktemp(f"{system}-recipe") / "tiny.json"
    path.write_text(json.dumps(recipe))
    return path


def check_config_roundtrip(cfg) -> None:
    from tfaudio.config import from_dict, to_dict

    again = from_dict(type(cfg), json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg
    assert dataclasses.is_dataclass(cfg) and type(cfg).__dataclass_params__.frozen


# ----------------------------------------------------------------------------------
# Exact resume
# ----------------------------------------------------------------------------------
def _records(stage_dir: Path):
    path = stage_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def checkpoint_values(folder: Path) -> Dict[str, np.ndarray]:
    """Every tensor of the newest checkpoint in ``folder`` (bookkeeping excluded)."""
    import tensorflow as tf

    path = tf.train.latest_checkpoint(str(folder))
    assert path is not None, f"no checkpoint in {folder}"
    reader = tf.train.load_checkpoint(path)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "save_counter" not in k and "_CHECKPOINTABLE_OBJECT_GRAPH" not in k}


#: ``tfaudio-train`` with every training batch delayed by ``argv[1]`` seconds, so a
#: kill can land inside an epoch however small the test's model is. The delay is a
#: ``numpy_function`` in the input pipeline: values and order are untouched.
_SLOW_TRAIN = textwrap.dedent(
    """
    import sys, time
    import tensorflow as tf
    from tfaudio.training import core

    delay = float(sys.argv[1])
    fit = core.fit

    def _sleep():
        time.sleep(delay)
        return 0.0

    def _delayed(*batch):
        with tf.control_dependencies([tf.numpy_function(_sleep, [], tf.float64)]):
            return tf.nest.map_structure(tf.identity, batch if len(batch) > 1 else batch[0])

    def slow_fit(task, train_data, *args, **kwargs):
        def data(epoch):
            ds = train_data(epoch) if callable(train_data) else train_data
            return ds.map(_delayed)
        return fit(task, data, *args, **kwargs)

    core.fit = slow_fit
    from tfaudio.cli.common import main
    sys.exit(main("train", sys.argv[2:]))
    """
)


def _train_cmd(train_args: Sequence[str], run_dir: Path, resume: bool, delay: float = 0.0):
    args = [*map(str, train_args), "--run-dir", str(run_dir), "--no-progress"] + (["--resume"] if resume else [])
    if delay:
        return [sys.executable, "-c", _SLOW_TRAIN, str(delay), *args]
    return [sys.executable, "-m", "tfaudio.cli.train", *args]


def _kill_during(cmd, stage_dir: Path, after_epochs: int, fraction: float) -> int:
    """Start training, SIGKILL it ``fraction`` of an epoch after ``after_epochs`` epochs
    were logged; returns how many epochs were logged when it died."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and p.poll() is None and len(_records(stage_dir)) < after_epochs:
        time.sleep(0.02)
    assert p.poll() is None, f"training ended before the kill: {p.stderr.read()[-3000:]}"
    recs = _records(stage_dir)
    if fraction > 0 and recs:
        time.sleep(fraction * max(float(recs[-1].get("seconds", 0.0)), 0.05))
    p.send_signal(signal.SIGKILL)
    p.wait()
    return len(_records(stage_dir))


def check_resume_exact(train_args: Sequence[str], stage: str, tmp_path: Path, epochs: int,
                       kills: Sequence[tuple] = ((1, 0.0), (2, 0.5)), delay: float = 0.05) -> None:
    """Train once uninterrupted; then for each ``(after_epochs, fraction)`` kill a fresh
    run with SIGKILL that far in, resume it with ``--resume`` (repeatedly, as a user
    would), and require the stage's final checkpoint, best checkpoint and metrics to
    equal the uninterrupted run's exactly. ``fraction`` 0 kills right after an epoch
    was logged; 0.5 about half-way through the next epoch (the first epoch, which
    includes tracing, is no measure of an epoch: kill mid-epoch after the second). The killed runs have each
    training batch delayed by ``delay`` seconds so that the kill lands where asked."""
    full = Path(tmp_path) / "full"
    res = subprocess.run(_train_cmd(train_args, full, False), capture_output=True, text=True,
                         timeout=TIMEOUT, env=user_env())
    assert res.returncode == 0, res.stderr[-4000:]
    assert_only_tfaudio_lines(res.stderr)  # the uninterrupted run is a user's plain run
    want_ckpt = checkpoint_values(full / stage / "ckpt")
    want_best = checkpoint_values(full / stage / "best")
    want_records = _without_time(_records(full / stage))
    assert [r["epoch"] for r in want_records] == list(range(1, epochs + 1))
    for i, (after, fraction) in enumerate(kills):
        run_dir = Path(tmp_path) / f"killed-{i}"
        logged = _kill_during(_train_cmd(train_args, run_dir, False, delay), run_dir / stage, after, fraction)
        assert logged < epochs, "the kill landed after training finished; use more epochs"
        res = subprocess.run(_train_cmd(train_args, run_dir, True), capture_output=True, text=True,
                             timeout=TIMEOUT, env=_env())
        assert res.returncode == 0, res.stderr[-4000:]
        assert _without_time(_records(run_dir / stage)) == want_records, f"metrics differ after kill {i}"
        got = checkpoint_values(run_dir / stage / "ckpt")
        assert got.keys() == want_ckpt.keys()
        for k in want_ckpt:
            np.testing.assert_array_equal(got[k], want_ckpt[k], err_msg=f"{k} after kill {i}")
        got = checkpoint_values(run_dir / stage / "best")
        for k in want_best:
            np.testing.assert_array_equal(got[k], want_best[k], err_msg=f"best {k} after kill {i}")


# ----------------------------------------------------------------------------------
# Exports
# ----------------------------------------------------------------------------------
def check_export_versioning(export: Callable[[Path, Optional[int]], Path], base_dir: Path, model_name: str) -> Path:
    """``export(base_dir, version)`` writes a version and returns its folder."""
    from tfaudio.errors import ExportError

    model_dir = Path(base_dir) / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    # A temporary folder left by a writer that was killed (its pid is gone).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = model_dir / ".tmp-1-dead"
    stale.mkdir()
    (stale / ".owner").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    (stale / "saved_model.pb").write_bytes(b"half")
    first = export(base_dir, None)
    assert first == model_dir / "1" and not stale.exists(), "stale temporary folder not cleaned"
    second = export(base_dir, None)
    assert second == model_dir / "2"
    before = sorted(p.name for p in first.rglob("*"))
    try:
        export(base_dir, 1)
    except ExportError as exc:
        assert "exists" in str(exc)
    else:
        raise AssertionError("an existing version was overwritten")
    assert sorted(p.name for p in first.rglob("*")) == before
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".tmp-")]
    return second


_RELOAD = textwrap.dedent(
    """
    import sys, json, numpy as np, tensorflow as tf
    path, sig, inputs, out = sys.argv[1:5]
    data = dict(np.load(inputs))
    fn = tf.saved_model.load(path).signatures[sig]
    res = fn(**{k: tf.constant(v) for k, v in data.items()})
    np.savez(out, **{k: v.numpy() for k, v in res.items() if v.dtype != tf.string})
    """
)


def check_reload_in_fresh_process(export_dir: Path, inputs: Mapping[str, np.ndarray],
                                  signature: str = "serving_default", atol: float = 1e-6) -> Dict[str, np.ndarray]:
    """Outputs of the SavedModel in a new process equal those in this process."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(export_dir)).signatures[signature]
    here = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()
            if v.dtype != tf.string}
    tmp = Path(export_dir).parent
    np.savez(tmp / "reload-in.npz", **inputs)
    res = subprocess.run([sys.executable, "-c", _RELOAD, str(export_dir), signature, str(tmp / "reload-in.npz"),
                          str(tmp / "reload-out.npz")], capture_output=True, text=True, timeout=300, env=_env())
    assert res.returncode == 0, res.stderr[-3000:]
    there = dict(np.load(tmp / "reload-out.npz"))
    (tmp / "reload-in.npz").unlink()
    (tmp / "reload-out.npz").unlink()
    assert here.keys() == there.keys()
    for k in here:
        np.testing.assert_allclose(there[k], here[k], atol=atol, err_msg=k)
    return here


def check_tflite_parity(export_dir: Path, inputs: Mapping[str, np.ndarray], tol: float,
                        signature: str = "serving_default", tflite_name: str = "model.tflite") -> float:
    """Builtin-only TFLite twin vs the SavedModel on ``inputs``; returns the max abs difference."""
    import tensorflow as tf

    from tfaudio.export.core import run_tflite, tflite_ops

    path = Path(export_dir) / tflite_name
    assert not [op for op in tflite_ops(path) if op.startswith("FlexDelegate") or op == "CUSTOM"]
    fn = tf.saved_model.load(str(export_dir)).signatures[signature]
    want = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()
            if v.dtype != tf.string}
    got = run_tflite(path, dict(inputs))
    worst = 0.0
    for k, v in got.items():
        if k in want:
            worst = max(worst, float(np.max(np.abs(v - want[k]))))
    assert worst <= tol, f"TFLite differs from the SavedModel by {worst} > {tol}"
    return worst


def check_serving_artifacts(export_dir: Path, system: str, model_name: str) -> int:
    """Every warmup request of the export runs through its SavedModel signature, and
    the export's signatures have the input / output names, dtypes and ranks that the
    README's table documents for ``model_name`` (its sizes are the default recipe's,
    so fixed sizes of a tiny test model may differ). Returns the number of requests."""
    import importlib

    from tfaudio.registry import systems
    from tfaudio.export import serving

    replayed = serving.replay_warmup_requests(export_dir)
    got = serving.saved_model_signatures(export_dir)
    documented = serving.function_signatures(
        importlib.import_module(systems()[system]).serving_signatures()[model_name])
    assert replayed == 2 * len(got), (replayed, sorted(got))

    def kinds(specs):
        return {k: (dtype, None if dims is None else len(dims)) for k, (dtype, dims) in specs.items()}

    assert sorted(got) == sorted(documented)
    for sig, (inputs, outputs) in documented.items():
        assert kinds(got[sig][0]) == kinds(inputs), sig
        assert kinds(got[sig][1]) == kinds(outputs), sig
    return replayed
