"""The config is the model: it validates, it trains with plain `spacy train` on a CPU, the same seed
gives the same scores, and the train step stops with advice (no traceback) when a GPU or the hub is missing."""
import shlex
from pathlib import Path

import pytest
import spacy
import srsly

from conftest import PROJECT_DIR, run_cli
from scripts.corpus import convert
from scripts.gpu import gpu_problem
from scripts.train import override_args

CONFIGS = sorted((PROJECT_DIR / "configs").glob("*.cfg"))
CODE = "scripts/custom_functions.py"


def corpus_paths(corpus: Path):
    return ("--paths.train", str(corpus / "train.spacy"), "--paths.dev", str(corpus / "dev.spacy"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_spacy_debug_config(config, demo_corpus, tiny_transformer, capsys):
    """`python -m spacy debug config CONFIG --code ... --paths...`, in this process."""
    from spacy.cli.debug_config import debug_config

    import scripts.custom_functions  # noqa: F401 -- what --code does

    overrides = {"paths.train": str(demo_corpus / "train.spacy"), "paths.dev": str(demo_corpus / "dev.spacy"), "paths.transformer": str(tiny_transformer)}
    debug_config(config, overrides=overrides)  # exits 1 when the config is invalid
    assert "Config is valid" in capsys.readouterr().out


def plain_spacy_train(config: Path, corpus: Path, transformer: Path, output: Path) -> dict:
    """`python -m spacy train` as a spaCy user runs it, on the CPU, a few steps, through spaCy's own CLI in this
    process (a process would import the stack again); the best model's dev scores."""
    import spacy.cli
    from typer.testing import CliRunner

    result = CliRunner().invoke(spacy.cli.app, [
        "train", str(config), "--gpu-id", "-1", "--code", CODE, "--output", str(output), *corpus_paths(corpus),
        "--paths.transformer", str(transformer), "--training.max_steps", "12", "--training.eval_frequency", "6",
        "--nlp.batch_size", "64", "--training.optimizer.learn_rate.initial_rate", "0.001",
    ])
    assert result.exit_code == 0, result.output[-3000:] + repr(result.exception)
    return srsly.read_json(output / "model-best" / "meta.json")["performance"]


@pytest.mark.slow  # two trainings
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_plain_spacy_train_on_the_cpu_is_reproducible(config, demo_corpus, tiny_transformer, tmp_path):
    """Two runs with the config's seed give the same dev scores (torch's CPU kernels used here are deterministic)."""
    first = plain_spacy_train(config, demo_corpus, tiny_transformer, tmp_path / "first")
    second = plain_spacy_train(config, demo_corpus, tiny_transformer, tmp_path / "second")
    assert first == second
    assert first["ents_f"] is not None


@pytest.mark.skipif(gpu_problem(0) is None, reason="a usable GPU is present")
def test_no_gpu_stops_with_advice(demo_corpus, tmp_path):
    exit_code, output, error = run_cli("scripts.train", str(CONFIGS[0]), "--output", str(tmp_path), "--gpu-id", "0", *corpus_paths(demo_corpus))
    assert exit_code == 1 and error is None  # a message, not a traceback
    assert "GPU 0 was asked for, but" in output and "--vars.gpu_id -1" in output and "spacy project run demo" in output
    assert not any(tmp_path.iterdir())


def test_learning_rate_decays_over_max_steps_in_the_config_and_the_demo():
    """total_steps is a number (spaCy's debug data resolves the optimizer without interpolating), so it
    must be kept equal to max_steps by hand: in the config and in the demo's overrides."""
    from weasel.util import load_project_config

    config = spacy.util.load_config(CONFIGS[0])
    assert config["training"]["optimizer"]["learn_rate"]["total_steps"] == config["training"]["max_steps"]
    demo_vars = shlex.split(load_project_config(PROJECT_DIR)["vars"]["demo_vars"])
    demo = override_args(demo_vars[demo_vars.index("--vars.train_overrides") + 1])
    demo_overrides = dict(zip(demo[::2], demo[1::2]))
    assert demo_overrides["--training.optimizer.learn_rate.total_steps"] == demo_overrides["--training.max_steps"]


def test_spacy_debug_data_passes_its_checks_on_the_demo_corpus(demo_conll_dir, tiny_transformer, tmp_path, capsys):
    """What a user runs first on their own data (`python -m spacy debug data CONFIG --code ... --paths.train
    ... --paths.dev ...`), in this process; one sentence a Doc so there are enough Docs for its checks."""
    from spacy.cli.debug_data import debug_data

    import scripts.custom_functions  # noqa: F401 -- what --code does

    convert(tmp_path, 1, conll_dir=demo_conll_dir)
    overrides = {"paths.train": str(tmp_path / "train.spacy"), "paths.dev": str(tmp_path / "dev.spacy"), "paths.transformer": str(tiny_transformer)}
    debug_data(CONFIGS[0], config_overrides=overrides, silent=False)  # exits 1 on any failed check
    output = " ".join(capsys.readouterr().out.split())
    assert "Pipeline can be initialized with data" in output and "checks passed" in output and "error" not in output


def test_train_overrides_become_spacy_train_options():
    assert override_args("training.max_steps=300 'paths.x=a b'") == ["--training.max_steps", "300", "--paths.x", "a b"]
    with pytest.raises(Exception, match="expected section.key=value"):
        override_args("--training.max_steps 300")


def test_untrained_pipeline_reads_a_doc_longer_than_the_window(demo_corpus, tiny_transformer):
    """Strided spans: a Doc of 600 words (each one word piece: over 512 pieces) gets a vector for every token.

    The windows are 128 tokens, so they stay under the model's 512 pieces while words average under 4
    pieces (news text: about 1.3 with distilbert-base-uncased's vocab)."""
    from spacy.training.initialize import init_nlp

    import scripts.custom_functions  # noqa: F401 -- registers what the config names

    overrides = {"paths.transformer": str(tiny_transformer), "paths.train": str(demo_corpus / "train.spacy"), "paths.dev": str(demo_corpus / "dev.spacy")}
    nlp = init_nlp(spacy.util.load_config(CONFIGS[0], overrides=overrides))
    words = "Anna Brandt said in Lisbon that shares in Northwind Bank rose on Tuesday".split()
    doc = nlp(spacy.tokens.Doc(nlp.vocab, words=[words[i % len(words)] for i in range(600)]))
    assert len(doc) == 600
    trf_data = doc._.trf_data
    assert trf_data.wordpieces.input_ids.size > 512
    assert (trf_data.align.lengths >= 1).all()  # no token lost to truncation


def test_unreachable_transformer_stops_with_advice(demo_corpus, tmp_path):
    """The tests run offline, so a hub name cannot load: train says so before it starts."""
    exit_code, output, error = run_cli(
        "scripts.train", str(CONFIGS[0]), "--output", str(tmp_path), "--gpu-id", "-1", *corpus_paths(demo_corpus), "--transformer", "distilbert-base-uncased",
    )
    assert exit_code == 1 and error is None  # a message, not a traceback
    assert "The transformer 'distilbert-base-uncased' cannot be loaded" in output and "--vars.transformer PATH" in output
    assert "The hub: HF_HUB_OFFLINE is set" in output and "spacy project run demo" in output
