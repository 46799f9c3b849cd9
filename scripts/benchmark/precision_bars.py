"""`python -m scripts.benchmark.precision_bars MODEL TEST_DOCBIN`: both bars a precision must pass to be `auto`'s
choice (docs/precision.md), on a trained pipeline and real gold data, and its speed, in one JSON.

For each precision: the test F1 as the evaluate step scores it (gold tokens, document context), tag
agreement with fp32 and the share of sentences whose entities differ from fp32's (the accuracy bar); each
test sentence's entities when it is tagged alone, in batches of 256, in shuffled batches of 64 and from 8
threads (the same-entities bar: every count must be 0); and words/s of `nlp.pipe` over the sentences, the
median of `--rounds` passes after a first one. int8-static is calibrated first on `--calibration-docs` Docs
of `--calibration-corpus`, as the package step does.
"""

import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

import srsly
import typer
from wasabi import msg

import scripts.ner_model.architectures  # noqa: F401 -- registers what a trained pipeline's config names
from scripts import cli
from scripts.machine import cpu_info


def entities(doc) -> list:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def sentence_entities(examples) -> List[list]:
    """Each predicted sentence's entities, offsets within the sentence."""
    return [
        [(e.start_char - s.start_char, e.end_char - s.start_char, e.label_) for e in s.ents]
        for eg in examples
        for s in eg.predicted.sents
    ]


def same_entities(nlp, texts: List[str]) -> dict:
    """How many texts get other entities in batches, shuffled batches and threads than alone."""
    alone = [entities(nlp(text)) for text in texts]
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    batched = [entities(doc) for doc in nlp.pipe(texts, batch_size=256)]
    shuffled = [entities(doc) for doc in nlp.pipe([texts[i] for i in order], batch_size=64)]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda i: entities(nlp(texts[i])), order))
    return {
        "batched_256": sum(a != b for a, b in zip(batched, alone)),
        "shuffled_64": sum(a != alone[i] for a, i in zip(shuffled, order)),
        "threads_8": sum(a != alone[i] for a, i in zip(threaded, order)),
        "n_texts": len(texts),
    }


def words_per_second(nlp, texts: List[str], rounds: int) -> List[float]:
    """Words/s of nlp.pipe over `texts`, one pass for each round after a first (warm-up) pass."""
    list(nlp.pipe(texts))
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        n_words = sum(len(doc) for doc in nlp.pipe(texts))
        rates.append(n_words / (time.perf_counter() - start))
    return rates


def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="A trained pipeline (training/model-best)"),
    test: Path = typer.Argument(..., exists=True, dir_okay=False, help="The gold test DocBin (corpus/test.spacy)"),
    output: Path = typer.Option(Path("metrics/precision_bars.json"), "--output", "-o"),
    precisions: str = typer.Option("fp32,bf16,int8,int8-static", help="Comma-separated, fp32 first"),
    calibration_corpus: Optional[Path] = typer.Option(
        None, exists=True, dir_okay=False, help="The training DocBin, for int8-static"
    ),
    calibration_docs: int = typer.Option(64, min=1, help="Docs of --calibration-corpus int8-static is calibrated on"),
    rounds: int = typer.Option(3, min=1, help="Timed passes per precision"),
) -> None:
    import spacy

    from scripts.evaluate import evaluate
    from scripts.ner_model.precision import calibrate_int8_static, precision_overrides
    from scripts.package import training_docs

    names = precisions.split(",")
    if names[0] != "fp32":
        raise typer.BadParameter(f"{precisions!r}: expected fp32 first (the reference)", param_hint="--precisions")
    results, reference = {}, None
    for precision in names:
        nlp = spacy.load(model, config=precision_overrides(precision))
        if precision == "int8-static":
            if calibration_corpus is None:
                raise typer.BadParameter("int8-static needs --calibration-corpus (the training DocBin)")
            calibrate_int8_static(nlp, training_docs(calibration_corpus, calibration_docs, nlp.vocab))
        scores, examples = evaluate(nlp, test)
        tags = [f"{t.ent_iob_}-{t.ent_type_}" for eg in examples for t in eg.predicted]
        sentences = sentence_entities(examples)
        reference = reference or (tags, sentences)
        texts = [s.text for eg in examples for s in eg.predicted.sents]
        rates = words_per_second(nlp, texts, rounds)
        results[precision] = {
            "test_f1": scores["ents_f"],
            "tag_agreement_with_fp32": sum(a == b for a, b in zip(tags, reference[0])) / len(tags),
            "sentences_changed_from_fp32": sum(a != b for a, b in zip(sentences, reference[1])),
            "n_sentences": len(sentences),
            "same_entities_differences": same_entities(nlp, texts),
            "words_per_second": statistics.median(rates),
            "words_per_second_rounds": rates,
        }
        row = results[precision]
        msg.text(
            f"{precision}: F1 {row['test_f1'] * 100:.2f}, agreement {row['tag_agreement_with_fp32']:.4%}, "
            f"{row['sentences_changed_from_fp32']} of {len(sentences)} sentences changed, "
            f"differences {row['same_entities_differences']}, {row['words_per_second']:.0f} words/s"
        )
        del nlp
    import torch

    report = {
        "model": str(model),
        "test": str(test),
        "results": results,
        "cpu": cpu_info(),
        "threads": torch.get_num_threads(),
        "n_test_tokens": len(reference[0]),
        "calibration_docs": calibration_docs if "int8-static" in names else 0,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
