"""One package per system over the shared core; each registers itself with
:func:`tfaudio.registry.register` in its ``__init__``."""
