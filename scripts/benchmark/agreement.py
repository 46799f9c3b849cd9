"""`python -m scripts.benchmark.agreement`: does a faster inference precision change what the pipeline tags?

A random transformer gives near-tied logits, so rounding flips its tags by chance and says nothing.
This trains the benchmark's pipeline (distilbert-base's shape) briefly on invented CoNLL-like
sentences until its dev F1 (fp32) reaches `target_f1` or `max_seconds` run out, saves it, and loads
it once per precision: tag agreement with fp32 on held-out sentences, and each precision's F1.
The bar a precision must pass to be a CPU kind's default, the runs and their commands:
docs/precision.md#the-accuracy-bar. A larger `--n-train` gives a superset of the smaller training set.
"""

import os
import random
import tempfile
import time
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from scripts import cli
from scripts.benchmark.ceiling import Shape
from scripts.benchmark.inputs import DEFAULT_CONFIG, build_transformer, gold_sentences
from scripts.corpus_reader import gold_example
from scripts.machine import cpu_info
from scripts.ner_model.precision import INFERENCE_PRECISION_KEY


def new_pipeline(model_dir: Path, config: Path, train_sents):
    """The benchmark's pipeline on `model_dir`, initialised on the first training sentences, predicting in fp32."""
    import spacy

    overrides = {"paths.transformer": str(model_dir), INFERENCE_PRECISION_KEY: "fp32"}
    nlp = spacy.util.load_model_from_config(
        spacy.util.load_config(config, overrides=overrides, interpolate=True), auto_fill=True
    )
    nlp.initialize(lambda: [gold_example(nlp.vocab, w, t) for w, t in train_sents[:64]])
    return nlp


def train(
    nlp,
    train_sents,
    dev_sents,
    target_f1: float,
    max_seconds: float,
    seed: int,
    learn_rate: float,
    history: list,
    trained: Path,
):
    """Epochs of nlp.update until dev F1 (fp32) reaches `target_f1` or `max_seconds` run out; `history` goes on
    from earlier runs (a pipeline trained before goes on learning, with a new optimizer). Saved to `trained`
    after every epoch, so a run stopped midway resumes from its last epoch."""
    from scripts.optimizer import create_torch_adam

    train_examples = [gold_example(nlp.vocab, w, t) for w, t in train_sents]
    dev_examples = [gold_example(nlp.vocab, w, t) for w, t in dev_sents]
    optimizer = create_torch_adam(learn_rate)
    training_precision = nlp.get_pipe("transformer").model.layers[0].shims[0].resolved_training_precision()
    rng, start = random.Random(seed + len(history)), time.perf_counter()
    offset = history[-1]["seconds"] if history else 0.0
    while True:
        rng.shuffle(train_examples)
        for i in range(0, len(train_examples), 16):
            nlp.update(train_examples[i : i + 16], sgd=optimizer, drop=0.1, losses={})
        f1 = nlp.evaluate(dev_examples)["ents_f"]
        history.append(
            {
                "epoch": len(history) + 1,
                "dev_f1": f1,
                "seconds": offset + time.perf_counter() - start,
                "learn_rate": learn_rate,
                "n_train": len(train_examples),
                "training_precision": training_precision,
                "cpu_kind": cpu_info()["kind"],
            }
        )
        msg.text(f"epoch {len(history)}: dev F1 {f1:.3f} after {history[-1]['seconds']:.0f} s")
        nlp.to_disk(trained)
        srsly.write_json(trained / "training_history.json", history)
        if f1 >= target_f1 or time.perf_counter() - start > max_seconds:
            return nlp, history


def tags_and_f1(pipeline: Path, precision: str, test_sents, calibration_sents=()):
    """The pipeline's tags and F1 on `test_sents` in `precision`; int8-static is first calibrated on
    `calibration_sents` (training sentences, as the package step calibrates on the training corpus)."""
    import spacy
    from spacy.scorer import Scorer
    from spacy.tokens import Doc

    from scripts.ner_model.precision import calibrate_int8_static

    nlp = spacy.load(pipeline, config={INFERENCE_PRECISION_KEY: precision})
    if precision == "int8-static":
        calibrate_int8_static(nlp, [Doc(nlp.vocab, words=words) for words, _ in calibration_sents])
    examples = [gold_example(nlp.vocab, w, t) for w, t in test_sents]
    start = time.perf_counter()
    docs = list(nlp.pipe(eg.predicted for eg in examples))
    seconds = time.perf_counter() - start
    for eg, doc in zip(examples, docs):
        eg.predicted = doc
    tags = [f"{t.ent_iob_}-{t.ent_type_}" for doc in docs for t in doc]
    return tags, Scorer(nlp).score(examples)["ents_f"], seconds


def main(
    output: Path = typer.Option(Path("metrics/agreement.json"), "--output", "-o"),
    model_dir: Optional[Path] = typer.Option(None, help="The benchmark's random DistilBERT (built if missing)"),
    trained: Optional[Path] = typer.Option(
        None, help="Keep the trained pipeline here; when it exists, compare precisions on it without training again"
    ),
    config: Path = typer.Option(DEFAULT_CONFIG, exists=True, dir_okay=False),
    precisions: str = typer.Option(
        "fp32,int8,bf16",
        help="Comma-separated; fp32 first (int8-static: calibrated on --n-calibration training sentences)",
    ),
    n_train: int = typer.Option(512),
    n_dev: int = typer.Option(150),
    n_test: int = typer.Option(600),
    n_calibration: int = typer.Option(512),
    target_f1: float = typer.Option(0.9),
    max_seconds: float = typer.Option(1800),
    learn_rate: float = typer.Option(1e-4),
    threads: int = typer.Option(0),
    seed: int = typer.Option(0),
) -> None:
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(threads or os.cpu_count() or 1)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        trained = trained or Path(tmp) / "trained"
        history = srsly.read_json(trained / "training_history.json") if (trained / "config.cfg").exists() else []
        if history and history[-1]["dev_f1"] >= target_f1:
            msg.info(
                f"{trained}: trained before ({len(history)} epochs, dev F1 {history[-1]['dev_f1']:.3f}); "
                "not training again"
            )
        else:
            import spacy

            if history:
                msg.info(f"{trained}: dev F1 {history[-1]['dev_f1']:.3f} after {len(history)} epochs; training on")
                nlp = spacy.load(trained, config={INFERENCE_PRECISION_KEY: "fp32"})
            else:
                if model_dir is None or not (model_dir / "config.json").exists():
                    model_dir = build_transformer(Path(model_dir or Path(tmp) / "distilbert"), Shape(), seed)
                nlp = new_pipeline(model_dir, config, gold_sentences(n_train, seed + 1))
            nlp, history = train(
                nlp,
                gold_sentences(n_train, seed + 1),
                gold_sentences(n_dev, seed + 2),
                target_f1,
                max_seconds,
                seed,
                learn_rate,
                history,
                trained,
            )
            del nlp
        test, calibration = gold_sentences(n_test, seed + 3), gold_sentences(n_train, seed + 1)[:n_calibration]
        results, reference = {}, None
        for precision in precisions.split(","):
            tags, f1, seconds = tags_and_f1(trained, precision, test, calibration)
            reference = reference or tags
            agreement = sum(a == b for a, b in zip(tags, reference)) / len(reference)
            results[precision] = {"agreement_with_fp32": agreement, "test_f1": f1, "pipe_seconds": seconds}
            if precision == "int8-static":
                results[precision]["n_calibration_sentences"] = n_calibration
            msg.text(f"{precision}: agreement {agreement:.4%}, test F1 {f1:.4f}, {seconds:.1f} s ({len(tags)} tokens)")
    report = {
        "training": history,
        "results": results,
        "n_test_tokens": len(reference),
        "cpu": cpu_info(),
        "threads": torch.get_num_threads(),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
