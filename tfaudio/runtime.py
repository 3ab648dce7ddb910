"""What commands and library entry points share when they start: TensorFlow imported
with its load-time noise filtered and the device said in one line, and the exception
types a command reports as one line (exit 2). Core: imports no system and no CLI code.
"""
from __future__ import annotations

import os
import sys

#: Lines TensorFlow prints while it loads that report nothing wrong on a CPU machine.
_TF_NOISE = (
    "All log messages before absl::InitializeLog()",
    "oneDNN custom operations are on",
    "Could not find cuda drivers",
    "cpu_feature_guard",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
    "failed call to cuInit",
    "Unable to register cu",
    "computation placer already registered",
    "TF-TRT Warning",
)


def load_tensorflow(announce: bool = True):
    """Import TensorFlow with its load-time noise filtered out of stderr, then say in
    one line which devices are used. Anything else TensorFlow prints is kept."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        for line in captured.read().decode("utf-8", "replace").splitlines():
            if line.strip() and not any(n in line for n in _TF_NOISE):
                print(line, file=sys.stderr)
    if announce:
        where = (f"{len(gpus)} GPU(s): " + ", ".join(g.name for g in gpus)) if gpus else "CPU (no GPU visible)"
        print(f"tfaudio: TensorFlow {tf.__version__} on {where}", file=sys.stderr)
    return tf


def user_errors():
    """Exception types reported as a one-line error (exit 2) instead of a traceback."""
    from tfaudio.errors import TfaudioError

    return (TfaudioError, FileNotFoundError)
