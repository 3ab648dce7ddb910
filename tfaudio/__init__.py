"""tfaudio: TensorFlow 2 / Keras 3 toolkit for audio research systems."""
__version__ = "0.1.0"
