"""The config is the model: it validates, it trains with plain `spacy train` on a CPU, the same seed
gives the same scores, and the train step stops with advice (no traceback) when a GPU or the hub is missing."""

import itertools
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

    overrides = {
        "paths.train": str(demo_corpus / "train.spacy"),
        "paths.dev": str(demo_corpus / "dev.spacy"),
        "paths.transformer": str(tiny_transformer),
    }
    debug_config(config, overrides=overrides)  # exits 1 when the config is invalid
    assert "Config is valid" in capsys.readouterr().out


def plain_spacy_train(config: Path, corpus: Path, transformer: Path, output: Path) -> list:
    """`python -m spacy train` as a spaCy user runs it, on the CPU, 30 steps with the schedule fitted to them (as
    the train step fits it to the epochs), through spaCy's own CLI in this process (a process would import the
    stack again); the training log's lines: losses and dev scores at steps 0, 15 and 30."""
    import spacy.cli
    from typer.testing import CliRunner

    log = output / "log.jsonl"
    result = CliRunner().invoke(
        spacy.cli.app,
        [
            "train",
            str(config),
            "--gpu-id",
            "-1",
            "--code",
            CODE,
            "--output",
            str(output),
            *corpus_paths(corpus),
            "--paths.transformer",
            str(transformer),
            "--paths.train_log",
            str(log),
            "--training.max_epochs",
            "0",
            "--training.max_steps",
            "30",
            "--training.eval_frequency",
            "15",
            "--nlp.batch_size",
            "64",
            "--training.optimizer.learn_rate.total_steps",
            "30",
            "--training.optimizer.learn_rate.initial_rate",
            "0.006",
        ],
    )
    assert result.exit_code == 0, result.output[-3000:] + repr(result.exception)
    return list(srsly.read_jsonl(log))


@pytest.mark.slow  # two trainings
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_plain_spacy_train_on_the_cpu_is_reproducible(config, demo_corpus, tiny_transformer, tmp_path):
    """Two runs with the config's seed log the same losses and dev scores at every evaluation (torch's CPU
    kernels used here are deterministic), and the run learns: its last dev F is well above the untrained
    pipeline's at step 0, so the equality is not that of two runs that predict nothing."""
    first = plain_spacy_train(config, demo_corpus, tiny_transformer, tmp_path / "first")
    second = plain_spacy_train(config, demo_corpus, tiny_transformer, tmp_path / "second")
    assert [line["step"] for line in first] == [0, 15, 30]
    assert first == second
    untrained, trained = first[0]["scores"]["ents_f"], first[-1]["scores"]["ents_f"]
    assert trained > untrained + 10, (untrained, trained)  # percent


@pytest.mark.skipif(gpu_problem(0) is None, reason="a usable GPU is present")
def test_no_gpu_stops_with_advice(demo_corpus, tmp_path):
    exit_code, output, error = run_cli(
        "scripts.train", str(CONFIGS[0]), "--output", str(tmp_path), "--gpu-id", "0", *corpus_paths(demo_corpus)
    )
    assert exit_code == 1 and error is None  # a message, not a traceback
    assert "GPU 0 was asked for, but" in output and "--vars.gpu_id -1" in output and "spacy project run demo" in output
    assert not any(tmp_path.iterdir())


def test_epochs_become_steps_counted_from_the_corpus(demo_corpus):
    """The train step's overrides: max_epochs epochs of the batches the config's batcher makes of the corpus,
    the schedule ending at the last step, dev scored once an epoch; a max_steps given wins (the demo's)."""
    from weasel.util import load_project_config

    from scripts.train import batches_per_epoch, epoch_overrides

    paths = {"paths.train": str(demo_corpus / "train.spacy"), "paths.dev": str(demo_corpus / "dev.spacy")}
    n_batches = batches_per_epoch(CONFIGS[0], {**paths, "training.batcher.size": 300}, PROJECT_DIR / CODE)
    assert n_batches > batches_per_epoch(CONFIGS[0], paths, PROJECT_DIR / CODE) > 0  # smaller batches, more of them
    fitted = epoch_overrides(
        CONFIGS[0], {**paths, "training.batcher.size": 300, "training.max_epochs": 4}, PROJECT_DIR / CODE
    )
    assert fitted["training.max_steps"] == fitted["training.optimizer.learn_rate.total_steps"] == 4 * n_batches
    assert fitted["training.eval_frequency"] == n_batches and fitted["training.patience"] == 0
    assert fitted["training.max_epochs"] == 5  # room for the last step, which the schedule runs at learn rate 0
    demo_vars = shlex.split(load_project_config(PROJECT_DIR)["vars"]["demo_vars"])
    demo = override_args(demo_vars[demo_vars.index("--vars.train_overrides") + 1])
    demo_overrides = {key.lstrip("-"): value for key, value in zip(demo[::2], demo[1::2])}
    fitted = epoch_overrides(
        CONFIGS[0],
        {**paths, **{key: int(v) if v.isdigit() else v for key, v in demo_overrides.items()}},
        PROJECT_DIR / CODE,
    )
    assert (
        fitted["training.optimizer.learn_rate.total_steps"]
        == fitted["training.max_steps"]
        == int(demo_overrides["training.max_steps"])
    )
    assert fitted["training.max_epochs"] == 0


def test_schedule_warms_up_over_a_share_of_the_steps_and_ends_at_zero():
    from scripts.optimizer import create_warmup_linear

    rates = list(itertools.islice(create_warmup_linear(1e-4, total_steps=50, warmup_fraction=0.1), 51))
    assert rates[0] == 0 and rates[5] == pytest.approx(1e-4) and max(rates) == rates[5] and rates[50] == 0
    with pytest.raises(ValueError, match="expected total_steps >= 1"):
        create_warmup_linear(1e-4, total_steps=0)


@pytest.mark.slow  # a training
def test_train_step_trains_the_epochs_and_scores_the_last_step(demo_corpus, tiny_transformer, tmp_path):
    """Through the project's train step: dev is scored after each epoch's batches and at the very last step,
    where the schedule has reached 0, so model-best can be the annealed model."""
    from scripts.train import batches_per_epoch

    n_batches = batches_per_epoch(CONFIGS[0], {"paths.train": str(demo_corpus / "train.spacy")}, PROJECT_DIR / CODE)
    exit_code, output, error = run_cli(
        "scripts.train",
        str(CONFIGS[0]),
        "--output",
        str(tmp_path),
        "--gpu-id",
        "-1",
        "--transformer",
        str(tiny_transformer),
        "--log",
        str(tmp_path / "log.jsonl"),
        *corpus_paths(demo_corpus),
        "--training.max_epochs",
        "2",
    )
    assert exit_code == 0 and error is None, output[-3000:]
    assert f"{n_batches} batches an epoch, 2 epochs: {2 * n_batches} steps" in output
    assert [line["step"] for line in srsly.read_jsonl(tmp_path / "log.jsonl")] == [0, n_batches, 2 * n_batches]
    assert (tmp_path / "model-best").is_dir()


def test_spacy_debug_data_passes_its_checks_on_the_demo_corpus(demo_conll_dir, tiny_transformer, tmp_path, capsys):
    """What a user runs first on their own data (`python -m spacy debug data CONFIG --code ... --paths.train
    ... --paths.dev ...`), in this process; one sentence a Doc so there are enough Docs for its checks."""
    from spacy.cli.debug_data import debug_data

    import scripts.custom_functions  # noqa: F401 -- what --code does

    convert(tmp_path, 1, conll_dir=demo_conll_dir)
    overrides = {
        "paths.train": str(tmp_path / "train.spacy"),
        "paths.dev": str(tmp_path / "dev.spacy"),
        "paths.transformer": str(tiny_transformer),
    }
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

    overrides = {
        "paths.transformer": str(tiny_transformer),
        "paths.train": str(demo_corpus / "train.spacy"),
        "paths.dev": str(demo_corpus / "dev.spacy"),
    }
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
        "scripts.train",
        str(CONFIGS[0]),
        "--output",
        str(tmp_path),
        "--gpu-id",
        "-1",
        *corpus_paths(demo_corpus),
        "--transformer",
        "distilbert-base-uncased",
    )
    assert exit_code == 1 and error is None  # a message, not a traceback
    assert (
        "The transformer 'distilbert-base-uncased' cannot be loaded" in output and "--vars.transformer PATH" in output
    )
    assert "The hub: HF_HUB_OFFLINE is set" in output and "spacy project run demo" in output
