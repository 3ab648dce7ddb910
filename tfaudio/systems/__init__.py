"""One package per system over the shared core; each registers itself with
:func:`tfaudio.cli.registry.register` in its ``__init__``."""
