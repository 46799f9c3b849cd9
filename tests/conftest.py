"""Every test runs offline: the hub is unreachable here, so nothing may try it; nothing is written to ~/.cache.

`python -m pytest tests` from the project folder puts it on sys.path, so tests import `scripts.*`.
"""

import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

# The test modules import the whole stack (spaCy, torch, transformers: about 900,000 objects with the tests').
# It is imported without the collector and frozen before the first test, so no collection walks it again:
# the fast tier took 81 s of CPU instead of 99 s (docs/tests.md). The steps do the same (scripts/cli.py).
gc.disable()

for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[variable] = "1"

# pytest.ini runs one xdist worker per core. Each worker, and every process a test starts, gets its share of
# the cores for torch's and ONNX Runtime's thread pools: with the defaults, two workers' OpenMP threads
# spin-wait on each other's cores (the full suite took 574 s of CPU instead of 473 s; docs/tests.md).
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // WORKERS)))

import scripts.custom_functions  # noqa: E402, F401 -- registers what the configs name, as their --code does

# OntoNotes 5's 18 entity types: the many-label case of the own-data and report tests.
ONTONOTES_TYPES = (
    "CARDINAL",
    "DATE",
    "EVENT",
    "FAC",
    "GPE",
    "LANGUAGE",
    "LAW",
    "LOC",
    "MONEY",
    "NORP",
    "ORDINAL",
    "ORG",
    "PERCENT",
    "PERSON",
    "PRODUCT",
    "QUANTITY",
    "TIME",
    "WORK_OF_ART",
)

PROJECT_DIR = Path(__file__).resolve().parent.parent


def run_cli(module: str, *args: str, stdin: bytes = None):
    """`python -m MODULE ARGS` through the module's typer CLI (its `app`, or its `main` as typer.run runs
    it), in this process: a process would import the whole stack again, about 11 s on 2 cores. Returns the
    exit code, the output with its line wraps undone, and any exception but the exit."""
    import importlib

    import typer
    from typer.testing import CliRunner

    imported = importlib.import_module(module)
    if hasattr(imported, "__path__"):  # a package: `python -m` runs its __main__
        imported = importlib.import_module(f"{module}.__main__")
    app = getattr(imported, "app", None)
    if app is None:
        app = typer.Typer(add_completion=False)
        app.command()(imported.main)
    result = CliRunner().invoke(app, list(args), input=stdin)
    return (
        result.exit_code,
        " ".join(result.output.split()),
        None if isinstance(result.exception, SystemExit) else result.exception,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """After the collection (in an xdist worker) or instead of it (in the controller)."""
    gc.freeze()
    gc.enable()


def pytest_collection_modifyitems(items):
    """The longest work first, so that the two xdist workers (pytest.ini) end together: the demo's nested
    workflow run (one worker, most of the full suite's time), then the other slow tests, then the rest."""

    def rank(item) -> int:
        group = item.get_closest_marker("xdist_group")
        return 0 if group and group.args[0] == "demo" else 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: each file's own order stays (the serve group's SIGTERM test last)


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `name` that `make` fills, made once per test run: by the first xdist worker that asks,
    under a lock, while the other waits; read-only for the tests."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's folder, shared by its workers
    path, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            make(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def demo_conll_dir(tmp_path_factory) -> Path:
    """The demo's CoNLL sample, smaller: made by the project's own generator."""
    from scripts.demo_data import make_demo_data

    return made_once(
        tmp_path_factory, "demo_conll", lambda path: make_demo_data(path, n_train_docs=12, n_eval_docs=4, seed=0)
    )


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory, demo_conll_dir) -> Path:
    from scripts.make_transformer import conll_words, make_transformer

    words = list(conll_words([demo_conll_dir / "train.txt"]))
    return made_once(
        tmp_path_factory,
        "tiny_distilbert",
        lambda path: make_transformer(path, words, dim=32, n_layers=1, n_heads=2, hidden_dim=64),
    )


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory, demo_conll_dir) -> Path:
    """The demo sample as the corpus step writes it: {train,dev,test}.spacy and stats.json,
    Docs of up to 10 sentences."""
    from scripts.corpus import convert

    return made_once(tmp_path_factory, "demo_corpus", lambda path: convert(path, 10, conll_dir=demo_conll_dir))


# Steps of 4 Docs at a constant learning rate, the config's seed: the model finds the demo's entities in
# demo-like sentences (2,374 entities in the 1,000 sentences of test_same_entities; 30 steps at 6e-3 was
# too few); one torch thread, which trains a model this small fastest on a busy machine.
TINY_TRAINING = {"steps": 40, "docs_per_step": 4, "learn_rate": 4e-3}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory, demo_corpus, tiny_transformer) -> Path:
    """A trained `transformer` + `sentencizer` + `ner` pipeline saved with nlp.to_disk: the project's config
    on the tiny transformer, trained in a test process on the demo sample (a few seconds). It finds the demo's
    entities in demo-like sentences, which is all the tests of annotate, sentences and odd input need;
    the demo workflow's model (`demo_project`) is for the tests of the workflow itself."""
    return (
        made_once(
            tmp_path_factory,
            "tiny_pipeline",
            lambda path: train_tiny_pipeline(path / "model", demo_corpus, tiny_transformer),
        )
        / "model"
    )


@pytest.fixture(scope="module")
def texts_and_answers(tiny_pipeline):
    """250 invented news sentences and their answers from nlp(text), one call a text (test_serve, test_serve_ray);
    scripts.custom_functions, imported above, registers the config's architecture."""
    import spacy

    from scripts.serve.load_test import answer_of
    from scripts.synthetic_news import generate_texts

    nlp = spacy.load(tiny_pipeline)
    texts = [" ".join(words) for words in generate_texts(250, seed=3)]
    return texts, [answer_of(nlp(text)) for text in texts]


def train_tiny_pipeline(
    path: Path, demo_corpus: Path, tiny_transformer: Path, expected=(("Anna Brandt", "PER"), ("Lisbon", "LOC"))
) -> None:
    """`expected`: entities it must find in one demo-like sentence (the other encoder families' tests check
    what they find on many sentences instead)."""
    import random

    import spacy
    import torch
    from spacy.util import minibatch

    from scripts.corpus_reader import create_gold_sentences_corpus
    from scripts.ner_model.precision import keep_int8_copy
    from scripts.optimizer import create_torch_adam

    overrides = {
        "paths.transformer": str(tiny_transformer),
        "paths.train": str(demo_corpus / "train.spacy"),
        "paths.dev": str(demo_corpus / "dev.spacy"),
    }
    config = spacy.util.load_config(PROJECT_DIR / "configs/distilbert_ner.cfg", overrides=overrides, interpolate=True)
    spacy.util.fix_random_seed(config["system"]["seed"])  # as spacy train does: the same weights every run
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = list(create_gold_sentences_corpus(demo_corpus / "train.spacy")(nlp))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        nlp.initialize(lambda: examples)
        optimizer, rng, steps = create_torch_adam(TINY_TRAINING["learn_rate"]), random.Random(0), 0
        while steps < TINY_TRAINING["steps"]:
            rng.shuffle(examples)
            for batch in minibatch(examples, TINY_TRAINING["docs_per_step"]):
                if steps < TINY_TRAINING["steps"]:
                    nlp.update(batch, sgd=optimizer, drop=0.1)
                    steps += 1
    finally:
        torch.set_num_threads(threads)
    found = [
        (ent.text, ent.label_)
        for ent in nlp("Anna Brandt of Northwind Bank said in Lisbon that the Olympic team won.").ents
    ]
    assert set(expected) <= set(found), f"the tiny pipeline learnt too little: {found}"
    nlp.to_disk(path)
    nlp = spacy.load(path)  # a pipeline updated in this process predicts in fp32 and makes no int8 copy
    keep_int8_copy(nlp)  # as the package step does: loading it exports nothing (where int8 is the CPU's default)
    nlp.to_disk(path)


def copy_project(destination: Path) -> Path:
    """What a fresh clone holds that the workflow needs, without any outputs."""
    for name in ("project.yml", "README.md"):
        shutil.copy(PROJECT_DIR / name, destination)
    for folder in ("configs", "scripts", "corpus", "packages"):
        shutil.copytree(
            PROJECT_DIR / folder,
            destination / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.spacy", "stats.json", "en_*"),
        )
    return destination


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    """A copy of the project after `spacy project run demo` (once per test session): demo/training/model-best,
    demo/metrics/*, demo/packages/en_ner_distilbert_conll03_demo-0.0.0/dist/*.whl."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "demo"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project
