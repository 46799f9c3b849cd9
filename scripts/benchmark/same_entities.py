"""`python -m scripts.benchmark.same_entities MODEL`: tests/test_same_entities.py's checks on a trained pipeline
of real size, where the tests run them on tiny ones. Per precision, each text's entities from nlp(text) alone
against the same texts in batches of 256, shuffled, under max_batch_items 64 and 8192, and from 8 threads at
once; it counts the texts whose entities differ (the bar: none). docs/precision.md has the runs.

    python -m scripts.benchmark.same_entities MODEL --precisions int8,bf16,fp32 -o FILE.json
    python -m scripts.benchmark.same_entities MODEL --precisions int8-static -o FILE.json

int8-static is calibrated first, as benchmark.agreement calibrates it (--n-calibration, --seed).
"""

import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

import srsly
import torch
import typer
from wasabi import msg

from scripts import cli
from scripts.benchmark.inputs import pipeline_in
from scripts.machine import cpu_info
from scripts.synthetic_news import generate_texts


def entities(doc) -> list:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def differences(found: list, expected: list) -> List[int]:
    """The indices of the texts whose entities differ."""
    return [i for i, (ours, theirs) in enumerate(zip(found, expected)) if ours != theirs]


def in_threads(nlp, texts: List[str], n_threads: int = 8, n_calls: int = 1000):
    """`n_calls` calls of nlp(text) from `n_threads` threads at once, in a shuffled order of the texts: that
    order, and each call's entities."""
    order = [i % len(texts) for i in range(n_calls)]
    random.Random(0).shuffle(order)
    with ThreadPoolExecutor(n_threads) as pool:
        return order, list(pool.map(lambda i: entities(nlp(texts[i])), order))


def count_differences(nlp, texts: List[str], n_calls: int) -> dict:
    """How many texts get other entities than from nlp(text) alone, in each way of calling the pipeline."""
    alone = [entities(nlp(text)) for text in texts]
    counts = {"n_texts": len(texts), "n_entities_alone": sum(map(len, alone))}
    counts["batch_256"] = len(differences([entities(doc) for doc in nlp.pipe(texts, batch_size=256)], alone))
    order = list(range(len(texts)))
    random.Random(1).shuffle(order)
    shuffled = [entities(doc) for doc in nlp.pipe([texts[i] for i in order], batch_size=256)]
    counts["shuffled"] = len(differences(shuffled, [alone[i] for i in order]))
    transformer = nlp.get_pipe("transformer")
    configured = transformer.cfg["max_batch_items"]
    try:
        for items in (64, 8192):
            transformer.cfg["max_batch_items"] = items
            found = [entities(doc) for doc in nlp.pipe(texts, batch_size=256)]
            counts[f"max_batch_items_{items}"] = len(differences(found, alone))
    finally:
        transformer.cfg["max_batch_items"] = configured
    order, found = in_threads(nlp, texts, n_calls=n_calls)
    counts[f"threads_8_calls_{n_calls}"] = len(differences(found, [alone[i] for i in order]))
    return counts


def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="A trained pipeline folder"),
    precisions: str = typer.Option("int8,bf16,fp32", help="Comma-separated"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Keep the JSON here"),
    n_texts: int = typer.Option(1000, help="Invented news sentences"),
    n_calls: int = typer.Option(1200, help="Calls from 8 threads"),
    n_calibration: int = typer.Option(512, help="int8-static: training sentences calibrated on"),
    seed: int = typer.Option(0, help="benchmark.agreement's seed, whose training sentences int8-static calibrates on"),
) -> None:
    texts = [" ".join(words) for words in generate_texts(n_texts, seed=7)]
    results = {}
    for precision in precisions.split(","):
        start = time.perf_counter()
        nlp = pipeline_in(model, precision, n_calibration, seed)
        results[precision] = {**count_differences(nlp, texts, n_calls), "seconds": time.perf_counter() - start}
        msg.info(precision, results[precision])
    if output:
        machine = {"cpu": cpu_info(), "threads": torch.get_num_threads()}
        srsly.write_json(output, {"what": __doc__.split("\n\n")[0], "results": results, **machine})
        msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
