"""Every test runs offline: the hub is unreachable here, so nothing may try it; nothing is written to ~/.cache.

`python -m pytest tests` from the project folder puts it on sys.path, so tests import `scripts.*`.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[variable] = "1"


@pytest.fixture(scope="session", autouse=True)
def int8_cache(tmp_path_factory) -> Path:
    """The int8 copies the tests' models make go to a temporary folder, not the user's ~/.cache (the
    variable reaches the workflow's subprocesses too)."""
    path = tmp_path_factory.mktemp("int8_cache")
    os.environ["NER_DISTILBERT_CACHE"] = str(path)
    return path

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def demo_conll_dir(tmp_path_factory) -> Path:
    """The demo's CoNLL sample, smaller: made by the project's own generator."""
    from scripts.demo_data import make_demo_data

    path = tmp_path_factory.mktemp("demo_conll")
    make_demo_data(path, n_train_docs=12, n_eval_docs=4, seed=0)
    return path


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory, demo_conll_dir) -> Path:
    from scripts.make_transformer import conll_words, make_transformer

    words = list(conll_words([demo_conll_dir / "train.txt"]))
    return make_transformer(tmp_path_factory.mktemp("tiny_distilbert"), words, dim=32, n_layers=1, n_heads=2, hidden_dim=64)


def copy_project(destination: Path) -> Path:
    """What a fresh clone holds that the workflow needs, without any outputs."""
    for name in ("project.yml", "README.md"):
        shutil.copy(PROJECT_DIR / name, destination)
    for folder in ("configs", "scripts", "corpus", "packages"):
        shutil.copytree(PROJECT_DIR / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__", "*.spacy", "stats.json", "en_*"))
    return destination


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    """A copy of the project after `spacy project run demo` (once per test session): demo/training/model-best,
    demo/metrics/*, demo/packages/en_ner_distilbert_conll03_demo-0.0.0/dist/*.whl."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    result = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "demo"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project
