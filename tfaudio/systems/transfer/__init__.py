"""ASR <-> SER transfer: one frame-level ConvNet acoustic model for phone recognition and speech emotion recognition, and the frozen-layer transfer study."""
from tfaudio.registry import register

register("transfer", cli="tfaudio.systems.transfer.cli")
