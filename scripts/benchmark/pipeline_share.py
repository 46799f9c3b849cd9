"""`python -m scripts.benchmark.pipeline_share MODEL`: where a trained pipeline's inference time goes besides the
transformer's forward pass, on the benchmark's sentences (nlp.pipe, batches of 1024, after an untimed pass):
the whole pipeline, then the transformer component alone (sentencizer and ner disabled), each with the time
inside the forward passes; the medians of 3 passes. docs/performance.md has the runs.

    python -m scripts.benchmark.pipeline_share MODEL --precisions int8,int8-static -o FILE.json
"""

import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import srsly
import torch
import typer
from spacy.tokens import Doc
from wasabi import msg

from scripts import cli
from scripts.benchmark.inputs import make_inputs, pipeline_in
from scripts.machine import cpu_info
from scripts.ner_model.precision import transformer_shim


@contextmanager
def forward_seconds(nlp) -> Iterator[List[float]]:
    """A list whose one item sums the seconds the transformer's predictions take inside the block."""
    shim = transformer_shim(nlp)
    predict, spent = shim.predict, [0.0]

    def timed(inputs):
        start = time.perf_counter()
        try:
            return predict(inputs)
        finally:
            spent[0] += time.perf_counter() - start

    shim.predict = timed  # on this instance only, for the block: a measuring tool's timer, not the model's code
    try:
        yield spent
    finally:
        del shim.predict


def passes(nlp, texts: List[List[str]], n_passes: int = 3) -> dict:
    """The medians of `n_passes` timed passes: all seconds, and those in the forward passes."""
    totals, forwards = [], []
    for _ in range(n_passes):
        docs = [Doc(nlp.vocab, words=words) for words in texts]
        with forward_seconds(nlp) as spent:
            start = time.perf_counter()
            for _ in nlp.pipe(docs, batch_size=1024):
                pass
            totals.append(time.perf_counter() - start)
        forwards.append(spent[0])
    return {"total_s": statistics.median(totals), "forward_s": statistics.median(forwards)}


def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="A trained pipeline folder"),
    precisions: str = typer.Option("int8,int8-static", help="Comma-separated"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Keep the JSON here"),
    n_sentences: int = typer.Option(1200, help="The benchmark's sentences"),
    threads: int = typer.Option(2, help="Torch threads"),
    seed: int = typer.Option(0),
) -> None:
    torch.set_num_threads(threads)
    texts, _ = make_inputs(n_sentences, 0, seed)
    results = {}
    for precision in precisions.split(","):
        nlp = pipeline_in(model, precision, seed=seed)
        for _ in nlp.pipe([Doc(nlp.vocab, words=words) for words in texts], batch_size=1024):
            pass  # the untimed pass: the inference copy is made, the caches are warm
        whole = passes(nlp, texts)
        with nlp.select_pipes(disable=["sentencizer", "ner"]):
            alone = passes(nlp, texts)
        results[precision] = {
            "whole_pipeline": whole,
            "transformer_component_alone": alone,
            "forward_share_of_whole": whole["forward_s"] / whole["total_s"],
        }
        msg.info(precision, results[precision])
    if output:
        report = {"what": __doc__.split("\n\n")[0], "results": results, "n_words": sum(map(len, texts))}
        srsly.write_json(output, {**report, "cpu": cpu_info(), "threads": threads})
        msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
