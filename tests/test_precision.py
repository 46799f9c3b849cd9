"""The transformer's inference precision (scripts/ner_model: TransformerModel.v1), on a tiny random model.

Random weights say nothing about accuracy (scripts/benchmark/agreement.py measures that on a trained
model); these check the plumbing: each precision gives fp32 outputs of the right shape close to fp32's,
the setting is read from the config and from spacy.load overrides, training stays fp32, and a
pipeline saved and loaded again rebuilds its fast copy from the loaded weights.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc

from scripts.corpus_reader import gold_example
from scripts.ner_model import hardware
from scripts.ner_model.architectures import create_transformer_model
from scripts.ner_model.precision import (
    INFERENCE_PRECISION_KEY,
    TRAINING_PRECISION_KEY,
    calibrate_int8_static,
    keep_int8_copy,
    precision_overrides,
    predicting_precision,
)
from scripts.ner_model.runtimes import INT8_REQUIREMENTS, has_openvino
from scripts.optimizer import create_torch_adam
from scripts.package import MODEL_CODE

CONFIG = "configs/distilbert_ner.cfg"
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
HAS_OPENVINO = HAS_ORT and has_openvino()
WORDS = [
    ["Anna", "Adler", "visited", "Lisbon", "."],
    ["Shares", "in", "Northwind", "Bank", "rose", "3", "percent", "on", "Tuesday", "."],
]


@pytest.fixture(scope="module")
def saved_pipeline(tiny_transformer, tmp_path_factory):
    config = spacy.util.load_config(
        CONFIG,
        overrides={"paths.transformer": str(tiny_transformer), INFERENCE_PRECISION_KEY: "fp32"},
        interpolate=True,
    )
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


@pytest.mark.parametrize(
    "precision",
    ["bf16", pytest.param("int8", marks=pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed"))],
)
def test_precision_outputs_fp32_close_to_fp32(saved_pipeline, precision):
    reference = hidden_states(spacy.load(saved_pipeline))
    nlp = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: precision})
    assert shim(nlp).resolved_precision() == precision
    for ours, theirs in zip(hidden_states(nlp), reference):
        assert ours.dtype == numpy.float32 and ours.shape == theirs.shape
        scale = float(numpy.abs(theirs).max())
        assert float(numpy.abs(ours - theirs).max()) < 0.1 * scale


def test_auto_is_fp32_once_training_has_started(saved_pipeline):
    nlp = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "auto"})
    assert shim(nlp).resolved_precision() == hardware.auto_precision()
    examples = [gold_example(nlp.vocab, w, ["O"] * len(w)) for w in WORDS]
    nlp.update(examples, sgd=create_torch_adam(1e-4))
    assert shim(nlp).resolved_precision() == "fp32"  # training evaluates in the precision it trains in


def test_auto_by_cpu_kind(monkeypatch):
    """AVX2 without AVX-512: int8 (with onnxruntime); AVX-512 with bf16 and VNNI, no AMX: int8, training bf16;
    AVX-512 with AMX: int8 (bf16 changes a real encoder's entities with batch-mates), training bf16; everything
    else fp32. (flags, inference, training)"""
    int8 = "int8" if HAS_ORT else "fp32"
    kinds = (
        ({"avx2", "fma"}, int8, "fp32"),
        ({"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile"}, int8, "bf16"),
        ({"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni"}, int8, "bf16"),  # AMD Zen 5 and Zen 4, measured
        ({"avx2", "avx512f", "avx512_vnni"}, "fp32", "fp32"),  # no native bf16 (Cascade Lake, Ice Lake): not measured
        ({"avx2", "avx512f", "avx512_bf16"}, "fp32", "fp32"),  # no VNNI: not the kind measured
        ({"avx2", "avx512f", "amx_bf16"}, "fp32", "fp32"),  # not the kind measured: no AMX int8 tiles
        (set(), "fp32", "fp32"),
    )
    for flags, inference, training in kinds:
        hardware.auto_precision.cache_clear()
        monkeypatch.setattr(hardware, "cpu_flags", lambda flags=flags: flags)
        assert hardware.auto_precision() == inference, flags
        # training: bf16 autocast on the kinds where it was measured (native bf16 alone is not enough)
        assert hardware.auto_training_precision() == training, flags
    hardware.auto_precision.cache_clear()


def test_bad_precision_is_refused():
    with pytest.raises(ValueError, match="inference_precision"):
        create_transformer_model("x", lambda docs: [], inference_precision="fp8")
    with pytest.raises(ValueError, match="training_precision"):
        create_transformer_model("x", lambda docs: [], training_precision="int8")
    with pytest.raises(ValueError, match="--precision"):
        precision_overrides("fp8")
    assert precision_overrides(None) == {}


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_initialize_builds_no_int8_copy(tiny_transformer):
    """initialize predicts once to learn the width: in fp32, since training is about to change the weights."""
    config = spacy.util.load_config(
        CONFIG,
        overrides={"paths.transformer": str(tiny_transformer), INFERENCE_PRECISION_KEY: "int8"},
        interpolate=True,
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp.initialize(lambda: [gold_example(nlp.vocab, w, ["O"] * len(w)) for w in WORDS])
    assert shim(nlp).onnx_copies == {} and shim(nlp).inference_precision == "int8"


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_saved_int8_copy_predicts_without_exporting(saved_pipeline, tmp_path, monkeypatch):
    """What scripts/package.py ships: the int8 copy inside the pipeline, so that the first prediction exports
    nothing and needs no writable home. The same weights always give the same copy."""
    import torch

    nlp = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "int8"})
    assert keep_int8_copy(nlp)
    made = shim(nlp).onnx_copy("int8")
    expected = hidden_states(nlp)
    nlp.to_disk(tmp_path / "with_int8")
    assert shim(spacy.load(saved_pipeline)).onnx_copy("int8") is None

    def no_export(*args, **kwargs):
        raise AssertionError("exported although the pipeline holds its int8 copy")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    loaded = spacy.load(tmp_path / "with_int8", config={INFERENCE_PRECISION_KEY: "int8"})
    assert shim(loaded).onnx_copy("int8") == made
    assert all(numpy.array_equal(a, b) for a, b in zip(hidden_states(loaded), expected))
    monkeypatch.undo()
    again = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "int8"})
    keep_int8_copy(again)
    assert shim(again).onnx_copy("int8") == made


@pytest.mark.skipif(not HAS_OPENVINO, reason="int8-static needs onnxruntime (to calibrate) and openvino (to run)")
def test_int8_static_is_calibrated_saved_and_dropped_by_training(saved_pipeline, tmp_path, monkeypatch):
    """int8-static needs a calibrated copy (an error says how to make one); the copy is saved with the weights,
    so the loaded pipeline exports nothing; the same weights and text give the same copy; an update drops it."""
    import torch

    nlp = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "int8-static"})
    with pytest.raises(ValueError, match="calibrate_int8_static"):
        nlp(" ".join(WORDS[0]))
    reference = hidden_states(spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "fp32"}))
    calibration = [" ".join(words) for words in WORDS * 4]
    assert calibrate_int8_static(nlp, calibration) >= 1
    assert predicting_precision(nlp) == "int8-static" and shim(nlp).inference_precision == "int8-static"
    made, expected = shim(nlp).onnx_copy("int8-static"), hidden_states(nlp)
    for ours, theirs in zip(expected, reference):
        assert ours.dtype == numpy.float32 and ours.shape == theirs.shape
        assert float(numpy.abs(ours - theirs).max()) < 0.1 * float(numpy.abs(theirs).max())
    nlp.to_disk(tmp_path / "calibrated")
    monkeypatch.setattr(
        torch.onnx, "export", lambda *args, **kwargs: pytest.fail("exported although the pipeline holds its copy")
    )
    loaded = spacy.load(tmp_path / "calibrated", config={INFERENCE_PRECISION_KEY: "int8-static"})
    assert shim(loaded).onnx_copy("int8-static") == made
    assert all(numpy.array_equal(a, b) for a, b in zip(hidden_states(loaded), expected))
    monkeypatch.undo()
    again = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "int8-static"})
    calibrate_int8_static(again, calibration)
    assert shim(again).onnx_copy("int8-static") == made
    loaded.update([gold_example(loaded.vocab, w, ["O"] * len(w)) for w in WORDS], sgd=create_torch_adam(1e-4))
    assert shim(loaded).onnx_copies == {} and predicting_precision(loaded) == "fp32"


@pytest.mark.slow  # a fresh process, which imports spaCy and torch again
@pytest.mark.parametrize(
    "precision",
    [
        pytest.param("int8", marks=pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")),
        pytest.param(
            "int8-static",
            marks=pytest.mark.skipif(not HAS_OPENVINO, reason="int8-static needs onnxruntime and openvino"),
        ),
    ],
)
def test_int8_copies_send_no_telemetry(saved_pipeline, tmp_path, precision):
    """ONNX Runtime keeps a device id and usage events under ~/.cache/Microsoft unless ORT_DISABLE_TELEMETRY is
    set when it is imported; openvino's converter, when imported, forks a process that sends usage telemetry and
    writes ~/intel. A pipeline that calibrates and predicts in a fresh process does neither."""
    import subprocess
    import sys

    script = f"""
import os, spacy
forks = []
os.register_at_fork(before=lambda: forks.append(1))
import scripts.ner_model.architectures
from scripts.ner_model.precision import calibrate_int8_static
nlp = spacy.load({str(saved_pipeline)!r}, config={{{INFERENCE_PRECISION_KEY!r}: {precision!r}}})
if {precision!r} == "int8-static":
    calibrate_int8_static(nlp, ["Anna Adler visited Lisbon ."])
nlp("Anna Adler visited Lisbon .")
assert forks == [], "forked"
"""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value for key, value in os.environ.items() if key not in ("CI", "ORT_DISABLE_TELEMETRY")
    }  # telemetry's own switches
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "HOME": str(home), "HF_HUB_OFFLINE": "1"},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (home / "intel").exists() and not (home / ".cache" / "Microsoft").exists()


def test_int8_requirements_admit_what_requirements_txt_pins():
    """The wheel requires ranges (scripts/package.py), and the versions the project is tested with are inside them."""
    from packaging.requirements import Requirement

    pins = dict(
        line.split("==")
        for line in (Path(__file__).resolve().parent.parent / "requirements.txt").read_text().split()
        if "==" in line
    )
    for requirement in map(Requirement, INT8_REQUIREMENTS):
        assert "==" not in str(requirement.specifier) and requirement.specifier.contains(pins[requirement.name]), (
            requirement
        )


def transformer_nodes(model):
    return [node for node in model.walk() if node.name == "transformer"]


def test_replace_listeners_copy_predicts_in_the_configured_precision(saved_pipeline, tmp_path):
    """nlp.replace_listeners gives the ner its own copy of the transformer: in memory it is this project's
    model with the same settings, predicting what the shared one predicts in bf16; saved, its config loads
    and predicts the same entities again."""
    nlp = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "bf16"})
    docs = [Doc(nlp.vocab, words=w) for w in WORDS]
    shared = nlp.get_pipe("transformer").model
    expected = [output.model_output.last_hidden_state for output in shared.predict(docs).doc_data]
    entities = [
        [(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(Doc(nlp.vocab, words=w) for w in WORDS)
    ]
    nlp.replace_listeners("transformer", "ner", ["model.tok2vec"])
    (copied,) = transformer_nodes(nlp.get_pipe("ner").model)
    assert copied is not shared and type(copied) is type(shared) and copied.shim is not shared.shim
    assert copied.shim.resolved_precision() == "bf16" and copied.shim.inference_precision == "bf16"
    assert copied.attrs["has_transformer"] and copied.get_dim("nO") == shared.get_dim("nO")
    ours = [output.model_output.last_hidden_state for output in copied.predict(docs).doc_data]
    assert all(numpy.array_equal(a, b) for a, b in zip(ours, expected))
    tok2vec = nlp.config["components"]["ner"]["model"]["tok2vec"]
    assert (
        tok2vec["@architectures"] == "ner_distilbert.Tok2VecTransformer.v1" and tok2vec["inference_precision"] == "bf16"
    )
    nlp.to_disk(tmp_path / "replaced")
    again = spacy.load(tmp_path / "replaced")
    (loaded,) = transformer_nodes(again.get_pipe("ner").model)
    assert loaded.shim.resolved_precision() == "bf16"
    assert [
        [(e.start, e.end, e.label_) for e in doc.ents] for doc in again.pipe(Doc(again.vocab, words=w) for w in WORDS)
    ] == entities


def test_hidden_states_asked_for_keep_fp32_after_loading(tiny_transformer, tmp_path):
    """The fast copies give the last hidden state only, so a pipeline asking for all of them predicts in
    fp32, also after spacy.load (which empties spacy-transformers' record of the transformer settings)."""
    overrides = {
        "paths.transformer": str(tiny_transformer),
        INFERENCE_PRECISION_KEY: "int8",
        "components.transformer.model.transformer_config": {"output_hidden_states": True},
    }
    config = spacy.util.load_config(CONFIG, overrides=overrides, interpolate=True)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp.initialize(lambda: [gold_example(nlp.vocab, w, ["O"] * len(w)) for w in WORDS])
    nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert shim(loaded).resolved_precision() == "fp32"
    doc = loaded(" ".join(WORDS[0]))
    assert len(doc._.trf_data.model_output.hidden_states) == 2  # embeddings and the one layer


def test_precision_of_a_pipeline_built_by_another_copy_of_the_code(saved_pipeline, tmp_path):
    """An installed package brings its own copy of the model's code (scripts/package.py copies it flat beside
    its __init__); evaluate reads the precision of a pipeline built by that copy through the shim's methods."""
    package = tmp_path / "installed_model"
    package.mkdir()
    for path in MODEL_CODE:
        shutil.copy(path, package)
    (package / "__init__.py").write_text("from . import architectures\n")
    names = ("ner_distilbert.TransformerModel.v1", "ner_distilbert.Tok2VecTransformer.v1")
    ours = {name: spacy.registry.architectures.get(name) for name in names}
    spec = importlib.util.spec_from_file_location(
        "installed_model", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    installed = importlib.util.module_from_spec(spec)
    sys.modules["installed_model"] = installed
    try:
        spec.loader.exec_module(installed)  # registers its own architectures, as a package's __init__ does
        nlp = spacy.load(saved_pipeline, config={INFERENCE_PRECISION_KEY: "bf16"})
        assert type(shim(nlp)) is installed.shim.PrecisionShim and predicting_precision(nlp) == "bf16"
    finally:  # this project's architectures again, for the rest of the session
        for name, function in ours.items():
            spacy.registry.architectures.register(name, func=function)
        for name in [name for name in sys.modules if name.split(".")[0] == "installed_model"]:
            del sys.modules[name]
    assert spacy.registry.architectures.get(names[0]) is create_transformer_model


def test_training_in_bf16_autocast_gives_thinc_fp32(saved_pipeline):
    """training_precision "bf16" (what "auto" runs on AMX CPUs): the transformer runs in
    autocast, thinc gets fp32, the weights learn."""
    import torch

    nlp = spacy.load(saved_pipeline, config={TRAINING_PRECISION_KEY: "bf16"})
    before = next(shim(nlp)._model.parameters()).detach().clone()
    examples = [gold_example(nlp.vocab, w, ["O"] * (len(w) - 1) + ["B-LOC"]) for w in WORDS]
    linear = next(m for m in shim(nlp)._model.modules() if isinstance(m, torch.nn.Linear))
    seen = []
    hooks = [
        linear.register_forward_hook(lambda module, args, output: seen.append(("linear", output.dtype))),
        shim(nlp)._model.register_forward_hook(
            lambda module, args, output: seen.append(("output", output.last_hidden_state.dtype))
        ),
    ]
    optimizer = create_torch_adam(1e-3)
    losses = nlp.update(examples, sgd=optimizer, losses={})
    for hook in hooks:
        hook.remove()
    assert seen == [("linear", torch.bfloat16), ("output", torch.float32)] and numpy.isfinite(losses["ner"])
    nlp.update(examples, sgd=optimizer)  # spaCy applies the transformer's step at the next update
    assert not torch.equal(before, next(shim(nlp)._model.parameters()))
    assert shim(nlp).resolved_precision() == "fp32"
