"""Quality-Net: non-intrusive BLSTM speech quality prediction with frame-level scores."""
from tfaudio.registry import register

register("qualitynet", cli="tfaudio.systems.qualitynet.cli")
