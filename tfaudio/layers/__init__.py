from tfaudio.layers.recurrent import BiLoopLSTM, LoopLSTM, configure_tflite_converter  # noqa: F401
