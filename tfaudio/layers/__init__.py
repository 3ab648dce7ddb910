"""Reusable layers: per-example dynamic convolution, TFLite-safe LSTMs, gradient reversal."""
from tfaudio.layers.dynamic import AffineLayerNorm, DynamicConv2D, layer_norm_hwc
from tfaudio.layers.gradient_reversal import GradientReversal
from tfaudio.layers.recurrent import BiLoopLSTM, LoopLSTM, configure_tflite_converter

__all__ = [
    "AffineLayerNorm",
    "BiLoopLSTM",
    "DynamicConv2D",
    "GradientReversal",
    "LoopLSTM",
    "configure_tflite_converter",
    "layer_norm_hwc",
]
