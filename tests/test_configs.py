"""Every config validates with `spacy debug config`; a missing GPU stops with advice, not a traceback."""
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from conftest import PROJECT_DIR
from convert import convert
from device import gpu_problem
import custom_functions  # noqa: F401 -- registers the reader the config names

CONFIGS = sorted((PROJECT_DIR / "configs").glob("*.cfg"))


@pytest.fixture(scope="module")
def demo_corpus(tmp_path_factory, demo_conll_dir) -> Path:
    path = tmp_path_factory.mktemp("corpus")
    convert(path, 10, conll_dir=demo_conll_dir)
    return path


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=PROJECT_DIR)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_spacy_debug_config(config, demo_corpus, tiny_transformer):
    result = run_script(
        "-m", "spacy", "debug", "config", str(config), "--code", "scripts/custom_functions.py",
        "--paths.train", str(demo_corpus / "train.spacy"), "--paths.dev", str(demo_corpus / "dev.spacy"),
        "--paths.transformer", str(tiny_transformer),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config is valid" in result.stdout


@pytest.mark.skipif(gpu_problem(0) is None, reason="a usable GPU is present")
def test_no_gpu_stops_with_advice(demo_corpus, tmp_path):
    result = run_script(
        "scripts/train.py", str(CONFIGS[0]), "--output", str(tmp_path), "--gpu-id", "0",
        "--paths.train", str(demo_corpus / "train.spacy"), "--paths.dev", str(demo_corpus / "dev.spacy"),
    )
    assert result.returncode == 1
    output = " ".join(result.stdout.split())
    assert "GPU 0 was asked for, but" in output and "--vars.gpu_id -1" in output and "spacy project run demo" in output
    assert "Traceback" not in result.stdout + result.stderr
    assert not any(tmp_path.iterdir())


def test_cpu_needs_no_gpu():
    assert gpu_problem(-1) is None


def test_untrained_pipeline_reads_a_doc_longer_than_the_window(demo_corpus, tiny_transformer):
    """Strided spans: a Doc of 600 tokens (far over 512 word pieces) gets a vector for every token."""
    from spacy.training.initialize import init_nlp

    config = spacy.util.load_config(
        CONFIGS[0],
        overrides={"paths.transformer": str(tiny_transformer), "paths.train": str(demo_corpus / "train.spacy"),
                   "paths.dev": str(demo_corpus / "dev.spacy"), "components.transformer.model.mixed_precision": False},
    )
    nlp = init_nlp(config)
    doc = nlp(spacy.tokens.Doc(nlp.vocab, words=[f"part{i}" for i in range(600)]))
    assert len(doc) == 600
    trf_data = doc._.trf_data
    assert trf_data.wordpieces.input_ids.size > 512
    assert (trf_data.align.lengths >= 1).all()  # no token lost to truncation


def test_unreachable_transformer_stops_with_advice(demo_corpus, tmp_path):
    """The tests run offline, so a hub name cannot load: train says so before it starts."""
    result = run_script(
        "scripts/train.py", str(CONFIGS[0]), "--output", str(tmp_path), "--gpu-id", "-1",
        "--paths.train", str(demo_corpus / "train.spacy"), "--paths.dev", str(demo_corpus / "dev.spacy"),
        "--paths.transformer", "distilbert-base-uncased",
    )
    assert result.returncode == 1
    output = " ".join(result.stdout.split())
    assert "The transformer 'distilbert-base-uncased' cannot be loaded" in output and "--vars.transformer PATH" in output
    assert "Traceback" not in result.stdout + result.stderr
