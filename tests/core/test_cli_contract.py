"""Every system's ``tfaudio-train`` takes the training flags that mean the same in
every system (cli.common.add_train_flags), and every export command the shared export
flags (cli.common.add_export_flags), so the README's "every system" holds."""
import argparse
import importlib

from tfaudio.registry import systems

SHARED = {"--run-dir", "--config", "--epochs", "--batch-size", "--lr", "--seed", "--strategy", "--data-service",
          "--data-service-mode", "--resume", "--set", "--no-progress", "--skip-bad-files"}


def test_every_system_takes_the_shared_training_flags():
    found = systems()
    assert set(found) == {"cola", "dfe", "qualitynet", "sed", "transfer"}
    for name, modpath in found.items():
        p = argparse.ArgumentParser()
        importlib.import_module(modpath).add_train_args(p)
        flags = {s for a in p._actions for s in a.option_strings}
        assert SHARED <= flags, (name, sorted(SHARED - flags))


def test_every_system_takes_the_shared_export_flags():
    shared = {"--run-dir", "--out", "--version", "--no-tflite"}
    for name, modpath in systems().items():
        p = argparse.ArgumentParser()
        importlib.import_module(modpath).add_export_args(p)
        flags = {s for a in p._actions for s in a.option_strings}
        assert shared <= flags, (name, sorted(shared - flags))
        assert p.parse_args([]).run_dir == f"runs/{name}" and p.parse_args([]).out == "exported_models"
