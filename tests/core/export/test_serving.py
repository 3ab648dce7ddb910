"""TF Serving artefacts of the export core: warmup requests in every version, the
models.config, and the README's signature table generated from the code.

The model server binary is not installable here: these tests read back what TF
Serving would read (the warmup PredictionLog records, the ModelServerConfig text
proto) with the tensorflow-serving-api protos and run every request through the
SavedModel's signature in TensorFlow, which is everything short of the server."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests import harness
from tfaudio.errors import ExportError
from tfaudio.export import serving
from tfaudio.export.core import export_version

README = Path(__file__).resolve().parents[3] / "README.md"


class Toy(tf.Module):
    """Two signatures like the systems': a waveform, and a padded batch with lengths."""

    def __init__(self):
        super().__init__()
        self.gain = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
    def score(self, waveform):
        return {"score": self.gain * tf.reduce_mean(tf.abs(waveform), -1),
                "label": tf.fill([tf.shape(waveform)[0]], tf.constant("x"))}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform"),
                                  tf.TensorSpec([None], tf.int32, name="lengths")])
    def padded(self, waveform, lengths):
        mask = tf.sequence_mask(lengths, tf.shape(waveform)[1], tf.float32)
        # fails (division by zero -> inf) unless every length is positive
        return {"mean": tf.reduce_sum(waveform * mask, -1) / tf.cast(lengths, tf.float32)}


def export_toy(base: Path, name: str = "toy") -> Path:
    toy = Toy()

    def write(tmp: Path):
        tf.saved_model.save(toy, str(tmp), signatures={"serving_default": toy.score, "padded": toy.padded})

    return export_version(base, name, write, metadata={"sample_rate": 8000})


def test_every_export_carries_warmup_requests_that_run(tmp_path):
    path = export_toy(tmp_path)
    records = list(serving.read_warmup_requests(path))
    assert len(records) == 4  # silence and tone per signature
    assert {r[0] for r in records} == {"toy"} and sorted({r[1] for r in records}) == ["padded", "serving_default"]
    for _, signature, inputs in records:
        assert inputs["waveform"].shape == (1, 4000) and inputs["waveform"].dtype == np.float32
        if signature == "padded":
            assert inputs["lengths"].tolist() == [4000] and inputs["lengths"].dtype == np.int32
    tones = [r[2]["waveform"] for r in records if np.any(r[2]["waveform"])]
    assert len(tones) == 2 and np.max(np.abs(tones[0])) == pytest.approx(0.5, abs=1e-3)
    assert serving.replay_warmup_requests(path) == 4
    meta = __import__("json").loads((path / "export.json").read_text())
    assert meta["serving_warmup"] == {"file": "assets.extra/tf_serving_warmup_requests", "requests": 4,
                                      "signatures": ["padded", "serving_default"], "replayed": 4}


def test_replay_fails_on_a_request_the_model_cannot_serve(tmp_path):
    path = export_toy(tmp_path)
    from tensorflow_serving.apis import prediction_log_pb2  # noqa: F401

    bad = serving._prediction_log("toy", "padded", {"waveform": np.zeros((1, 10), np.float32),
                                                    "lengths": np.zeros(1, np.int32)})
    with tf.io.TFRecordWriter(str(path / serving.WARMUP_FILE)) as w:
        w.write(bad.SerializeToString())
    with pytest.raises(ExportError, match="non-finite"):
        serving.replay_warmup_requests(path)


def test_serving_config_names_every_model_latest_version(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    base = tmp_path / "exported_models"
    export_toy(base, "alpha")
    export_toy(base, "alpha")
    export_toy(base, "beta")
    (base / "empty").mkdir()  # no version: not served
    res = harness.run_cli("tfaudio.cli.export", ["--serving-config", "--out", base])
    assert res.returncode == 0, res.stderr[-3000:]
    config = text_format.Parse((base / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    models = config.model_config_list.config
    assert [m.name for m in models] == ["alpha", "beta"]
    assert [m.base_path for m in models] == ["/models/alpha", "/models/beta"]
    assert all(m.model_platform == "tensorflow" and m.model_version_policy.latest.num_versions == 1
               for m in models)
    assert sorted(p.name for p in base.iterdir()) == ["alpha", "beta", "empty", "models.config"]


def test_serving_config_of_nothing_is_one_line(tmp_path):
    harness.assert_user_error(harness.run_cli("tfaudio.cli.export", ["--serving-config", "--out", tmp_path]),
                              "no exported model")


def test_every_exporting_system_documents_its_signatures():
    from tfaudio.registry import systems

    for name, module in systems().items():
        mod = importlib.import_module(module)
        if hasattr(mod, "add_export_args"):
            assert hasattr(mod, "serving_signatures"), f"{name} exports but has no serving_signatures()"


def test_readme_signature_table_is_generated_from_the_code():
    """Regenerate with: python -m tfaudio.export.serving --readme README.md"""
    text = README.read_text(encoding="utf-8")
    table = serving.signature_table(serving.registered_signatures())
    assert serving.replace_between_markers(text, table) == text, \
        "README's serving-signature table is stale: python -m tfaudio.export.serving --readme README.md"
    for model in ("dfe", "qualitynet", "sed", "cola", "cola_embedded", "transfer-asr", "transfer-ser"):
        assert f"| {model} | serving_default | in | `waveform` | float32 | [-1, -1] |" in table
