"""Tests for tfaudio.layers.recurrent: Keras parity, padding, init, serialization, TFLite."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfaudio.layers.recurrent import (
    BiLoopLSTM,
    LoopLSTM,
    configure_tflite_converter,
    lengths_from_mask,
    sequence_mask,
)

UNITS = 6
FEATURES = 5


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(7)
    return rng.standard_normal((3, 37, FEATURES)).astype(np.float32)


def _copied(keras_layer, **kwargs):
    """LoopLSTM with the weights of a built ``keras.layers.LSTM``."""
    loop = LoopLSTM(UNITS, **kwargs)
    loop.build((None, None, FEATURES))
    loop.set_weights(keras_layer.get_weights())
    return loop


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_matches_keras_lstm(inputs, go_backwards, chunk):
    ref_layer = keras.layers.LSTM(UNITS, return_sequences=True, go_backwards=go_backwards)
    ref = ref_layer(inputs).numpy()
    if go_backwards:
        ref = ref[:, ::-1]  # Keras returns processing order; LoopLSTM is frame aligned
    loop = _copied(ref_layer, go_backwards=go_backwards, chunk=chunk)
    np.testing.assert_allclose(loop(inputs).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("chunk,block", [(2, 1), (2, 3), (3, 4), (4, 100)])
def test_nested_loop_blocks_match_keras(inputs, chunk, block):
    # 37 steps: several blocks, the last one and its last chunk only partly used.
    ref_layer = keras.layers.LSTM(UNITS, return_sequences=True)
    ref = ref_layer(inputs).numpy()
    loop = _copied(ref_layer, chunk=chunk, block=block)
    np.testing.assert_allclose(loop(inputs).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_final_state_matches_keras(inputs, go_backwards):
    ref_layer = keras.layers.LSTM(UNITS, return_sequences=False, go_backwards=go_backwards)
    ref = ref_layer(inputs).numpy()
    loop = _copied(ref_layer, go_backwards=go_backwards, return_sequences=False, chunk=4)
    np.testing.assert_allclose(loop(inputs).numpy(), ref, atol=1e-5)


def test_bidirectional_matches_keras_on_padded_batch(inputs):
    lengths = np.array([37, 20, 3], np.int32)
    mask = np.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ref_layer = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True))
    ref = ref_layer(inputs, mask=tf.constant(mask)).numpy()
    bi = BiLoopLSTM(UNITS, chunk=8)
    bi.build((None, None, FEATURES))
    bi.set_weights(ref_layer.get_weights())
    out = bi(inputs, lengths=lengths).numpy()
    np.testing.assert_allclose(out[mask], ref[mask], atol=1e-5)
    assert np.all(out[~mask] == 0.0)  # padded frames are zero
    # A boolean mask is the same as lengths.
    np.testing.assert_allclose(bi(inputs, mask=tf.constant(mask)).numpy(), out, atol=0)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
def test_bidirectional_merge_modes(inputs, merge):
    ref_layer = keras.layers.Bidirectional(
        keras.layers.LSTM(UNITS, return_sequences=True), merge_mode=merge
    )
    ref = ref_layer(inputs).numpy()
    bi = BiLoopLSTM(UNITS, merge=merge)
    bi.build((None, None, FEATURES))
    bi.set_weights(ref_layer.get_weights())
    np.testing.assert_allclose(bi(inputs).numpy(), ref, atol=1e-5)


def test_padding_does_not_touch_valid_outputs(inputs):
    bi = BiLoopLSTM(UNITS, chunk=4)
    lengths = np.array([37, 11, 25], np.int32)
    batched = bi(inputs, lengths=lengths).numpy()
    for row, n in enumerate(lengths):
        alone = bi(inputs[row : row + 1, :n]).numpy()[0]
        np.testing.assert_allclose(batched[row, :n], alone, atol=1e-5)
        # Garbage in the padding must not matter either.
        noisy = inputs[row : row + 1].copy()
        noisy[:, n:] = 1e3
        again = bi(noisy, lengths=np.array([n], np.int32)).numpy()[0]
        np.testing.assert_allclose(again[:n], alone, atol=1e-5)


def test_final_state_with_lengths(inputs):
    lengths = np.array([37, 11, 25], np.int32)
    for go_backwards in (False, True):
        layer = LoopLSTM(UNITS, go_backwards=go_backwards, return_sequences=False)
        out = layer(inputs, lengths=lengths).numpy()
        for row, n in enumerate(lengths):
            alone = layer(inputs[row : row + 1, :n]).numpy()[0]
            np.testing.assert_allclose(out[row], alone, atol=1e-5)


def test_forget_gate_bias_initialisation():
    layer = LoopLSTM(4)
    layer.build((None, None, 3))
    np.testing.assert_array_equal(layer.bias.numpy(), np.repeat([0.0, -3.0, 0.0, 0.0], 4))
    keras_default = LoopLSTM(4, forget_bias=None)
    keras_default.build((None, None, 3))
    ref = keras.layers.LSTM(4)
    ref.build((None, None, 3))
    np.testing.assert_array_equal(keras_default.bias.numpy(), ref.get_weights()[2])
    np.testing.assert_array_equal(keras_default.bias.numpy(), np.repeat([0.0, 1.0, 0.0, 0.0], 4))
    bi = BiLoopLSTM(4, forget_bias=-3.0)
    bi.build((None, None, 3))
    for direction in (bi.forward_layer, bi.backward_layer):
        np.testing.assert_array_equal(
            direction.bias.numpy(), np.repeat([0.0, -3.0, 0.0, 0.0], 4)
        )


def test_mask_helpers():
    mask = sequence_mask(tf.constant([3, 0, 5]), 5).numpy()
    assert mask.tolist() == [
        [True, True, True, False, False],
        [False] * 5,
        [True] * 5,
    ]
    assert lengths_from_mask(mask).numpy().tolist() == [3, 0, 5]


def test_config_round_trip_and_keras_file(tmp_path, inputs):
    bi = BiLoopLSTM(
        UNITS, merge="sum", forget_bias=None, chunk=3, recurrent_dropout=0.1,
        recurrent_constraint=keras.constraints.MaxNorm(2.0), name="bi",
    )
    config = bi.get_config()
    clone = BiLoopLSTM.from_config(config)
    assert clone.get_config() == config
    assert clone.forward_layer.chunk == 3 and clone.merge == "sum"
    assert isinstance(clone.forward_layer.recurrent_constraint, keras.constraints.MaxNorm)

    model = keras.Sequential([keras.Input((None, FEATURES)), BiLoopLSTM(UNITS, name="bi")])
    path = os.path.join(tmp_path, "bi.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), atol=1e-6)


def test_training_dropout_and_gradients(inputs):
    layer = BiLoopLSTM(UNITS, dropout=0.3, recurrent_dropout=0.3, seed=1)
    x = tf.constant(inputs)
    with tf.GradientTape() as tape:
        y = layer(x, lengths=tf.constant([37, 20, 5]), training=True)
        loss = tf.reduce_sum(tf.square(y))
    grads = tape.gradient(loss, layer.trainable_variables)
    assert len(grads) == 6
    for g in grads:
        assert g is not None and np.all(np.isfinite(g.numpy()))
    # Inference is deterministic; training with dropout is not the same output.
    a = layer(x, training=False).numpy()
    np.testing.assert_array_equal(a, layer(x, training=False).numpy())
    assert not np.allclose(a, layer(x, training=True).numpy())


def _convert(fn):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    configure_tflite_converter(converter)
    return converter.convert()


#: Every converted model and its interpreter stay alive for the whole session: the
#: XNNPACK delegate may key packed weights on buffer addresses, and a freed model
#: buffer reused at the same address by the next test's model (same shapes, other
#: weights) would then be run with stale weights.
_ALIVE = []


def _interpreter(model_bytes):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes, num_threads=1)
    _ALIVE.append((model_bytes, interp))
    return interp


def _op_names(model_bytes):
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    names = {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    return {names[c] for c in codes}


@pytest.mark.parametrize("chunk,block", [(16, 16), (2, 3), (4, 1)])
def test_tflite_builtin_dynamic_time_axis(inputs, chunk, block):
    bi = BiLoopLSTM(UNITS, chunk=chunk, block=block)
    bi.build((None, None, FEATURES))

    @tf.function(input_signature=[tf.TensorSpec([1, None, FEATURES], tf.float32)])
    def serve(x):
        return bi(x)

    model_bytes = _convert(serve)
    ops = _op_names(model_bytes)
    assert "WHILE" in ops and "DYNAMIC_UPDATE_SLICE" in ops
    assert not any("FLEX" in op or "CUSTOM" in op for op in ops)
    interp = _interpreter(model_bytes)
    index = interp.get_input_details()[0]["index"]
    out_index = interp.get_output_details()[0]["index"]
    for steps in (37, 5, 70):  # resized both ways after the first allocation
        x = np.resize(inputs[0], (1, steps, FEATURES)).astype(np.float32)
        interp.resize_tensor_input(index, [1, steps, FEATURES])
        interp.allocate_tensors()
        interp.set_tensor(index, x)
        interp.invoke()
        np.testing.assert_allclose(interp.get_tensor(out_index), bi(x).numpy(), atol=1e-5)


def test_tflite_padded_batch_uses_reverse_sequence(inputs):
    bi = BiLoopLSTM(UNITS)
    bi.build((None, None, FEATURES))

    @tf.function(
        input_signature=[
            tf.TensorSpec([3, None, FEATURES], tf.float32),
            tf.TensorSpec([3], tf.int32),
        ]
    )
    def serve(x, lengths):
        return bi(x, lengths=lengths)

    model_bytes = _convert(serve)
    assert "REVERSE_SEQUENCE" in _op_names(model_bytes)
    interp = _interpreter(model_bytes)
    details = {d["shape_signature"].size: d["index"] for d in interp.get_input_details()}
    x_index, len_index = details[3], details[1]
    lengths = np.array([37, 20, 3], np.int32)
    interp.resize_tensor_input(x_index, list(inputs.shape))
    interp.allocate_tensors()
    interp.set_tensor(x_index, inputs)
    interp.set_tensor(len_index, lengths)
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, bi(inputs, lengths=lengths).numpy(), atol=1e-5)
