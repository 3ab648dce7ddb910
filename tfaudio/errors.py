"""The errors a user can cause, all derived from :class:`TfaudioError`.

Every command prints a :class:`TfaudioError` as one line naming the thing at fault
(file, row, column, flag) and exits with status 2; anything else is an internal
error and keeps its traceback. Library code raises the most specific subclass.
"""
from __future__ import annotations


class TfaudioError(Exception):
    """Base of every user-facing error (one line, exit status 2)."""


class ConfigError(TfaudioError, ValueError):
    """A recipe, flag or ``--set`` override names a field that does not exist or has a bad value."""


class AudioError(TfaudioError, ValueError):
    """An audio file cannot be used (missing, empty, corrupt, not audio, NaN, too short).
    The message names the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(TfaudioError, ValueError):
    """Corpus metadata or layout is invalid (missing column, unknown label, bad row)."""


class RunDirError(TfaudioError, RuntimeError):
    """A run directory is not in the state an operation needs."""


class ExportError(TfaudioError, RuntimeError):
    """An artifact failed its post-write check, or the target is not writable / not a model."""


class TrainingDivergedError(TfaudioError, FloatingPointError):
    """The training loss became NaN or infinite."""
