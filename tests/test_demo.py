"""`spacy project run demo` end to end in a copy of the project, then the wheel in a fresh venv, offline."""
import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from conftest import PROJECT_DIR

TEXTS = [
    "Anna Brandt of Northwind Bank said in Lisbon that the Olympic team won .",
    "Shares in Redstone Motors fell 3 percent on Tuesday , officials in Oslo said .",
    "coach Felix Moreau told reporters the European Cup match against Summit Rovers was lost .",
]
OUTPUTS = [
    "corpus/train.spacy", "corpus/dev.spacy", "corpus/test.spacy", "corpus/stats.json",
    "training/model-best", "metrics/test.json", "metrics/crosscheck.json", "metrics/test_predictions.conll",
    "metrics/test_displacy.html", "packages/en_ner_distilbert_conll03-1.0.0/dist/en_ner_distilbert_conll03-1.0.0-py3-none-any.whl",
]


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT_DIR / "project.yml", project)
    for folder in ("configs", "scripts"):
        shutil.copytree(PROJECT_DIR / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "demo"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def entities(nlp) -> list:
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(TEXTS)]


def test_demo_leaves_every_output(demo_project):
    missing = [path for path in OUTPUTS if not (demo_project / path).exists()]
    assert not missing
    crosscheck = json.loads((demo_project / "metrics/crosscheck.json").read_text())
    test_scores = json.loads((demo_project / "metrics/test.json").read_text())
    assert crosscheck["agree"] and crosscheck["mismatches"] == []
    assert crosscheck["spacy"]["f"] == test_scores["ents_f"]


def test_demo_model_learns(demo_project):
    """Dev F of the trained demo model against the same pipeline initialised but not trained."""
    import custom_functions  # noqa: F401 -- the reader the config names
    from evaluate import evaluate
    from spacy.training.initialize import init_nlp

    dev = demo_project / "corpus/dev.spacy"
    trained, _ = evaluate(spacy.load(demo_project / "training/model-best"), dev)
    config = spacy.util.load_config(demo_project / "training/model-best/config.cfg")
    paths = {"train": str(demo_project / "corpus/train.spacy"), "dev": str(dev), "transformer": str(demo_project / "assets/tiny-distilbert")}
    with_paths = config.merge({"paths": paths})
    untrained, _ = evaluate(init_nlp(with_paths), dev)
    print(f"demo dev F: trained {trained['ents_f']:.4f}, untrained {untrained['ents_f'] or 0:.4f}")
    assert trained["ents_f"] > (untrained["ents_f"] or 0) + 0.3


def test_wheel_in_a_fresh_venv_offline_without_the_transformer_folder(demo_project, tmp_path):
    wheel = next((demo_project / "packages").glob("*/dist/*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The fresh venv sees this one's packages (torch is gigabytes) through a .pth file, so the
    # wheel's own requirements resolve offline, and nothing of the project is on its path.
    venv_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    (venv_site / "project_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-index", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr

    expected = entities(spacy.load(demo_project / "training/model-best"))
    shutil.rmtree(demo_project / "assets/tiny-distilbert")
    script = (
        "import json, sys, spacy; nlp = spacy.load('en_ner_distilbert_conll03'); "
        "print(json.dumps([[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(json.load(sys.stdin))]))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run([str(python), "-c", script], input=json.dumps(TEXTS), capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert [[tuple(e) for e in doc] for doc in json.loads(result.stdout)] == expected
    assert any(expected), "the demo model should find some entities in these texts"
