"""`spacy project run demo` end to end in a copy of the project (the session's `demo_project`), then the wheel
in a fresh venv, offline."""

import os
import re
import shutil
import subprocess
import sys
from html import unescape

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from fresh_venv import closure, link_distributions, python_site, venv_with, wheel_requirements
from scripts.ner_model.hardware import auto_precision
from scripts.ner_model.precision import INFERENCE_PRECISION_KEY
from scripts.ner_model.runtimes import INT8_REQUIREMENTS, STATIC_INT8_REQUIREMENT, has_openvino

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("demo"),
]  # the nested workflow run (about 10 processes, training, a wheel), once

TEXTS = [
    "Anna Brandt of Northwind Bank said in Lisbon that the Olympic team won .",
    "Shares in Redstone Motors fell 3 percent on Tuesday , officials in Oslo said .",
    "coach Felix Moreau told reporters the European Cup match against Summit Rovers was lost .",
]
WHEEL = "demo/packages/en_ner_distilbert_conll03_demo-0.0.0/dist/en_ner_distilbert_conll03_demo-0.0.0-py3-none-any.whl"
OUTPUTS = [
    "demo/corpus/train.spacy",
    "demo/corpus/dev.spacy",
    "demo/corpus/test.spacy",
    "demo/corpus/stats.json",
    "demo/training/model-best",
    "demo/training/train_log.jsonl",
    "demo/metrics/test.json",
    "demo/metrics/test_predictions.spacy",
    "demo/metrics/crosscheck.json",
    "demo/metrics/test_predictions.conll",
    "demo/metrics/test_displacy.html",
    WHEEL,
]
REAL_RUN = ("corpus", "training", "metrics", "packages")
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def entities(nlp) -> list:
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(TEXTS)]


def test_demo_writes_its_outputs_under_demo_only(demo_project):
    assert [path for path in OUTPUTS if not (demo_project / path).exists()] == []
    for folder in REAL_RUN:  # the real run's places hold at most their README
        assert [p.name for p in (demo_project / folder).glob("*")] in ([], ["README.md"]), folder
    crosscheck = srsly.read_json(demo_project / "demo/metrics/crosscheck.json")
    test_scores = srsly.read_json(demo_project / "demo/metrics/test.json")
    assert crosscheck["agree"] and crosscheck["mismatches"] == []
    assert crosscheck["spacy"]["f"] == test_scores["ents_f"]


def test_displacy_page_shows_the_saved_predictions(demo_project):
    """Each predicted panel holds exactly the entities of the saved predicted Doc, in order."""
    html = (demo_project / "demo/metrics/test_displacy.html").read_text(encoding="utf8")
    panels = re.split(r"<h2[^>]*>", html)[1:]
    predicted = list(
        DocBin().from_disk(demo_project / "demo/metrics/test_predictions.spacy").get_docs(spacy.blank("en").vocab)
    )
    predicted_panels = [p for p in panels if ": predicted (" in p.split("</h2>", 1)[0]]
    assert len(predicted_panels) == 5
    for i, panel in enumerate(predicted_panels):
        marks = re.findall(r"<mark[^>]*>\s*(.*?)\s*<span[^>]*>\s*(\w+)\s*</span>\s*</mark>", panel, flags=re.S)
        shown = [(" ".join(unescape(text).split()), label) for text, label in marks]
        assert shown == [(" ".join(e.text.split()), e.label_) for e in predicted[i].ents]
    assert sum(len(doc.ents) for doc in predicted[:5]) > 0


def test_demo_model_learns(demo_project):
    """Dev F of the trained demo model against the same pipeline initialised but not trained."""
    from spacy.training.initialize import init_nlp

    from scripts.evaluate import evaluate

    dev = demo_project / "demo/corpus/dev.spacy"
    trained, _ = evaluate(spacy.load(demo_project / "demo/training/model-best"), dev)
    config = spacy.util.load_config(demo_project / "demo/training/model-best/config.cfg")
    paths = {
        "train": str(demo_project / "demo/corpus/train.spacy"),
        "dev": str(dev),
        "transformer": str(demo_project / "demo/assets/tiny-distilbert"),
    }
    untrained, _ = evaluate(init_nlp(config.merge({"paths": paths})), dev)
    print(f"demo dev F: trained {trained['ents_f']:.4f}, untrained {untrained['ents_f'] or 0:.4f}")
    assert trained["ents_f"] > (untrained["ents_f"] or 0) + 0.3


PREDICT = """
import json, sys, spacy
texts, answers = json.load(sys.stdin), {}
for precision in sys.argv[1:]:
    try:
        nlp = spacy.load(
            "en_ner_distilbert_conll03_demo", config={"components.transformer.model.inference_precision": precision}
        )
        shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
        ents = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
        answers[precision] = {"meta": nlp.meta, "resolved": shim.resolved_precision(), "ents": ents}
    except ImportError as missing:
        answers[precision] = {"error": str(missing)}
print(json.dumps(answers))
"""


def test_wheel_in_a_fresh_venv_with_only_its_requirements_predicts_in_every_precision(demo_project, tmp_path):
    """The wheel installed where only what it declares is installed, offline, without the project or the
    transformer folder: every precision predicts the entities this process predicts in it; int8-static
    asks for OpenVINO (not a requirement: no "auto" runs it) and, given it, runs the package's copy."""
    wheel = demo_project / WHEEL
    python = venv_with(tmp_path / "venv", wheel_requirements(wheel))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    model = demo_project / "demo/training/model-best"
    expected = {
        precision: entities(spacy.load(model, config={INFERENCE_PRECISION_KEY: precision})) for precision in PRECISIONS
    }
    assert any(expected["fp32"]), "the demo model should find some entities in these invented texts"
    shutil.rmtree(demo_project / "demo/assets/tiny-distilbert")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": ""}

    def predict(*precisions):
        result = subprocess.run(
            [str(python), "-c", PREDICT, *precisions],
            input=srsly.json_dumps(TEXTS),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return srsly.json_loads(result.stdout)

    answers = predict(*PRECISIONS, "int8-static")
    for precision in PRECISIONS:
        answer = answers[precision]
        assert answer["resolved"] == (auto_precision() if precision == "auto" else precision), answer
        assert [[tuple(e) for e in doc] for doc in answer["ents"]] == expected[precision], precision
    assert (
        "pip install" in answers["int8-static"]["error"]
        and STATIC_INT8_REQUIREMENT.split(">")[0] in answers["int8-static"]["error"]
    )
    meta = answers["fp32"]["meta"]
    assert meta["version"] == "0.0.0" and meta["description"].startswith("DEMO ONLY: random transformer weights")
    assert "invented" in meta["sources"][0]["license"] and "random weights" in meta["sources"][1]["license"]
    assert set(INT8_REQUIREMENTS) <= set(meta["requirements"])  # what the default precision runs on AVX2 CPUs
    if has_openvino():  # the demo packages an int8-static copy (project.yml): given OpenVINO, it runs
        link_distributions(python_site(python), closure([STATIC_INT8_REQUIREMENT]).values())
        answer = predict("int8-static")["int8-static"]
        assert answer["resolved"] == "int8-static" and sum(map(len, answer["ents"])) > 0, answer
