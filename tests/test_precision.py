"""The transformer's inference precision (custom_functions.TransformerModel.v1), on a tiny random model.

Random weights say nothing about accuracy (scripts/benchmark/agreement.py measures that on a trained
model); these check the plumbing: each precision gives fp32 outputs of the right shape close to fp32's,
the setting is read from the config and from spacy.load overrides, training stays fp32, and a
pipeline saved and loaded again rebuilds its fast copy from the loaded weights.
"""
import importlib.util
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc

from scripts import custom_functions
from scripts.benchmark.systems import PRECISION, gold_example
from scripts.custom_functions import precision_overrides

CONFIG = "configs/distilbert_ner.cfg"
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
WORDS = [["Anna", "Adler", "visited", "Lisbon", "."], ["Shares", "in", "Northwind", "Bank", "rose", "3", "percent", "on", "Tuesday", "."]]


@pytest.fixture(scope="module")
def saved_pipeline(tiny_transformer, tmp_path_factory):
    config = spacy.util.load_config(CONFIG, overrides={"paths.transformer": str(tiny_transformer), PRECISION: "fp32"}, interpolate=True)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp.initialize(lambda: [gold_example(nlp.vocab, w, ["O"] * (len(w) - 1) + ["B-LOC"]) for w in WORDS])
    path = tmp_path_factory.mktemp("precision") / "nlp"
    nlp.to_disk(path)
    return path


def hidden_states(nlp):
    docs = list(nlp.pipe(Doc(nlp.vocab, words=w) for w in WORDS))
    return [doc._.trf_data.model_output.last_hidden_state for doc in docs]


def shim(nlp):
    return nlp.get_pipe("transformer").model.layers[0].shims[0]


def test_config_names_the_precision_architecture():
    config = spacy.util.load_config(CONFIG)
    assert config["components"]["transformer"]["model"]["@architectures"] == "ner_distilbert.TransformerModel.v1"
    assert config["components"]["transformer"]["model"]["inference_precision"] == "auto"


@pytest.mark.parametrize("precision", ["bf16", pytest.param("int8", marks=pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed"))])
def test_precision_outputs_fp32_close_to_fp32(saved_pipeline, precision):
    reference = hidden_states(spacy.load(saved_pipeline))
    nlp = spacy.load(saved_pipeline, config={PRECISION: precision})
    assert shim(nlp).resolved_precision() == precision
    for ours, theirs in zip(hidden_states(nlp), reference):
        assert ours.dtype == numpy.float32 and ours.shape == theirs.shape
        scale = float(numpy.abs(theirs).max())
        assert float(numpy.abs(ours - theirs).max()) < 0.1 * scale


def test_auto_is_fp32_once_training_has_started(saved_pipeline):
    nlp = spacy.load(saved_pipeline, config={PRECISION: "auto"})
    assert shim(nlp).resolved_precision() == custom_functions.auto_precision()
    examples = [gold_example(nlp.vocab, w, ["O"] * len(w)) for w in WORDS]
    nlp.update(examples, sgd=custom_functions.create_torch_adam(1e-4))
    assert shim(nlp).resolved_precision() == "fp32"  # training evaluates in the precision it trains in


def test_auto_never_picks_unmeasured_precisions(monkeypatch):
    measured = (({"avx2", "fma"}, "int8" if HAS_ORT else "fp32"),)
    unmeasured = (({"avx2", "avx512f", "avx512_vnni"}, "fp32"), ({"avx2", "avx512f", "amx_bf16"}, "fp32"), (set(), "fp32"))
    for flags, expected in measured + unmeasured:
        custom_functions.auto_precision.cache_clear()
        monkeypatch.setattr(custom_functions, "cpu_flags", lambda flags=flags: flags)
        assert custom_functions.auto_precision() == expected
    custom_functions.auto_precision.cache_clear()


def test_bad_precision_is_refused():
    with pytest.raises(ValueError, match="inference_precision"):
        custom_functions.create_transformer_model("x", lambda docs: [], inference_precision="fp8")
    with pytest.raises(ValueError, match="--precision"):
        precision_overrides("fp8")
    assert precision_overrides(None) == {}


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_initialize_builds_no_int8_copy(tiny_transformer):
    """initialize predicts once to learn the width: in fp32, since training is about to change the weights."""
    config = spacy.util.load_config(CONFIG, overrides={"paths.transformer": str(tiny_transformer), PRECISION: "int8"}, interpolate=True)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp.initialize(lambda: [gold_example(nlp.vocab, w, ["O"] * len(w)) for w in WORDS])
    assert shim(nlp)._fast is None and shim(nlp).inference_precision == "int8"


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_int8_copy_is_exported_once_per_weights(saved_pipeline, int8_cache, monkeypatch):
    """The first load of a model exports and quantizes it (~20 s at distilbert-base's size); later loads,
    in any process, read the cached copy. Other weights get their own."""
    import torch

    for old in int8_cache.glob("int8-*.onnx"):
        old.unlink()
    first = hidden_states(spacy.load(saved_pipeline, config={PRECISION: "int8"}))
    cached = list(int8_cache.glob("int8-*.onnx"))
    assert len(cached) == 1 and not list(int8_cache.glob("*.part"))

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds this model")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    again = hidden_states(spacy.load(saved_pipeline, config={PRECISION: "int8"}))
    assert all(numpy.array_equal(a, b) for a, b in zip(first, again))
    nlp = spacy.load(saved_pipeline, config={PRECISION: "int8"})
    with torch.no_grad():
        next(shim(nlp)._model.parameters()).add_(0.01)
    monkeypatch.undo()
    hidden_states(nlp)
    assert len(list(int8_cache.glob("int8-*.onnx"))) == 2


def test_int8_requirements_match_requirements_txt():
    """The wheel requires what requirements.txt pins (scripts/package.py puts INT8_REQUIREMENTS in its meta)."""
    pins = (Path(__file__).resolve().parent.parent / "requirements.txt").read_text().split()
    assert set(custom_functions.INT8_REQUIREMENTS) <= set(pins)
