"""Training input through the tf.data service: decoding and features on other machines.

A tf.data service is one *dispatcher* and any number of *workers*
(``tfaudio-data-service dispatcher|worker``, :mod:`tfaudio.cli.data_service`). A
trainer started with ``--data-service grpc://HOST:PORT`` sends the graph of its epoch
dataset to the dispatcher; the workers run it and stream the batches back, so input
processing scales out independently of the trainers. The training loop applies
:func:`distribute` to every epoch's dataset, so every system gets it.

Processing modes (``--data-service-mode``):

* ``distributed_epoch``: the dispatcher splits the dataset's *source* among the
  workers; one epoch visits every example exactly once. It needs a splittable source
  (``from_tensor_slices``, ``range``, files); transformations run per worker after the
  split (so a shuffle buffer mixes only the worker's share).
* ``parallel_epochs``: every worker runs the whole dataset; the loop takes the epoch's
  number of batches from the merged stream. A pipeline with seeded draws gives every
  worker the same stream, so with W workers a batch may arrive up to W times in an
  epoch (one worker per trainer avoids it).
* ``auto`` (default): ``distributed_epoch`` when the dataset's source can be split,
  else ``parallel_epochs``.

Batches arrive in the order the workers deliver them, so a run fed by the service is
not bit-for-bit reproducible (the exact-resume promise holds for local input only).
With ``--strategy multiworker`` the service is refused (one line): every worker must
build the same global batches, which batches in delivery order are not. Use it with
one trainer process (the default strategy, or ``mirrored`` on a multi-GPU host).

A dataset built on a Python function (``Dataset.from_generator``,
``tf.py_function``, ``tf.numpy_function``) cannot leave its process:
:func:`check_shippable` rejects it with one line naming the op.
"""
from __future__ import annotations

import logging
from typing import Optional

import tensorflow as tf

from tfaudio.errors import TfaudioError

log = logging.getLogger(__name__)

MODES = ("auto", "distributed_epoch", "parallel_epochs")

#: Ops that call back into the Python interpreter of the process that built the dataset.
PYTHON_OPS = ("PyFunc", "PyFuncStateless", "EagerPyFunc")

#: Source datasets the dispatcher can split for ``distributed_epoch``.
SPLITTABLE_SOURCES = ("TensorSliceDataset", "RangeDataset", "TFRecordDataset", "TextLineDataset",
                      "FixedLengthRecordDataset", "FileDataset")


class DataServiceError(TfaudioError, RuntimeError):
    """The training input cannot go through the tf.data service, or the address is bad."""


_DEFAULT = {"address": None, "mode": "auto"}


def set_default(address: Optional[str], mode: str = "auto") -> None:
    """Feed every following :func:`tfaudio.training.core.fit` through the service at
    ``address`` (``None`` turns it off). The training CLI calls this for
    ``--data-service``."""
    if address is not None:
        check_address(address)
    if mode not in MODES:
        raise DataServiceError(f"unknown tf.data service mode {mode!r} (choose from {', '.join(MODES)})")
    _DEFAULT.update(address=address, mode=mode)


def default():
    """``(address, mode)`` set by :func:`set_default` (address None: local input)."""
    return _DEFAULT["address"], _DEFAULT["mode"]


def check_address(address: str) -> str:
    if not isinstance(address, str) or not address.startswith(("grpc://", "grpc+loas://")) \
            or ":" not in address.split("://", 1)[1]:
        raise DataServiceError(f"--data-service {address!r}: expected grpc://HOST:PORT of a dispatcher "
                               f"(tfaudio-data-service dispatcher --port PORT)")
    return address


def _graph_ops(ds: tf.data.Dataset):
    """Every node op and function op in the serialized graph of ``ds``."""
    graph = tf.compat.v1.GraphDef()
    policy = tf.data.experimental.ExternalStatePolicy.IGNORE  # list the ops, judge them below
    graph.ParseFromString(ds._as_serialized_graph(external_state_policy=policy).numpy())
    ops = [n.op for n in graph.node]
    for fn in graph.library.function:
        ops.extend(n.op for n in fn.node_def)
    return ops


def check_shippable(ds: tf.data.Dataset, what: str = "the training input") -> None:
    """Raise :class:`DataServiceError` when ``ds`` calls back into Python."""
    bad = sorted({op for op in _graph_ops(ds) if op in PYTHON_OPS})
    if bad:
        raise DataServiceError(
            f"{what} runs Python code ({', '.join(bad)}: Dataset.from_generator / py_function), which "
            f"cannot run on a tf.data service worker; train without --data-service")


def splittable(ds: tf.data.Dataset) -> bool:
    """Whether every source of ``ds`` is one the dispatcher can split among workers."""
    ops = _graph_ops(ds)
    sources = [op for op in ops if op.endswith("Dataset") and op in SPLITTABLE_SOURCES]
    unsplittable = [op for op in ops if op in ("GeneratorDataset", "ZipDataset", "SampleFromDatasets",
                                               "DirectedInterleaveDataset", "ChooseFromDatasets")]
    return bool(sources) and not unsplittable


def resolve_mode(ds: tf.data.Dataset, mode: str = "auto") -> str:
    if mode not in MODES:
        raise DataServiceError(f"unknown tf.data service mode {mode!r} (choose from {', '.join(MODES)})")
    if mode == "auto":
        return "distributed_epoch" if splittable(ds) else "parallel_epochs"
    return mode


def distribute(ds: tf.data.Dataset, address: str, mode: str = "auto", job_name: Optional[str] = None,
               steps: Optional[int] = None) -> tf.data.Dataset:
    """``ds`` read through the tf.data service at ``address``.

    ``job_name`` lets several readers share one job: each then receives different
    batches. ``steps`` bounds a ``parallel_epochs``
    epoch to the local dataset's number of batches (it is required there, since
    every service worker produces a full epoch).
    """
    check_address(address)
    check_shippable(ds)
    chosen = resolve_mode(ds, mode)
    out = ds.apply(tf.data.experimental.service.distribute(
        processing_mode=chosen, service=address, job_name=job_name))
    if chosen == "parallel_epochs" and steps is not None and steps > 0:
        out = out.take(steps)
    log.info("input through the tf.data service at %s (%s)", address, chosen)
    return out
