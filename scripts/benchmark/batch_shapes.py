"""`python -m scripts.benchmark.batch_shapes`: how many distinct forward-batch shapes (rows, pieces) the pipeline's
batching makes over N of the benchmark's sentences, as made and with rows padded up to a multiple of 4 and pieces
to a multiple of 8, and the share of the padded work that such padding adds. A runtime that prepares its kernels
for each new shape (OpenVINO, int8-static) pays once per distinct shape (docs/precision.md has the runs).

    python -m scripts.benchmark.batch_shapes --model-dir DIR --n-sentences 1200,20000 -o FILE.json

Only the model's tokenizer is used; without --model-dir, a random DistilBERT of distilbert-base-uncased's shape
is built, as the benchmark builds it.
"""

import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

import srsly
import typer
from wasabi import msg

from scripts import cli
from scripts.benchmark.ceiling import Shape
from scripts.benchmark.forward import sorted_batches
from scripts.benchmark.inputs import DEFAULT_CONFIG, build_transformer, make_inputs
from scripts.benchmark.systems import Settings, pipeline_batching

ROWS_MULTIPLE, PIECES_MULTIPLE = 4, 8


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def shape_counts(shapes: List[Tuple[int, int]]) -> dict:
    padded = [(round_up(rows, ROWS_MULTIPLE), round_up(pieces, PIECES_MULTIPLE)) for rows, pieces in shapes]
    return {
        "batches": len(shapes),
        "distinct": len(set(shapes)),
        "distinct_padded_r4_p8": len(set(padded)),
        "padded_share_of_work": 1 - sum(r * p for r, p in shapes) / sum(r * p for r, p in padded),
    }


def main(
    model_dir: Optional[Path] = typer.Option(None, help="An HF model folder whose tokenizer makes the pieces"),
    config: Path = typer.Option(DEFAULT_CONFIG, exists=True, dir_okay=False),
    n_sentences: str = typer.Option("1200,20000", help="Comma-separated counts of sentences"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Keep the JSON here"),
    seed: int = typer.Option(0),
) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None:
            model_dir = build_transformer(Path(tmp) / "distilbert", Shape(), seed)
        for n in map(int, n_sentences.split(",")):
            texts, _ = make_inputs(n, 0, seed)
            settings = Settings(str(model_dir), str(config), texts, [], 32, 1, seed, False, {})
            results[n] = shape_counts([tuple(batch["input_ids"].shape) for batch in sorted_batches(settings)])
            msg.info(f"{n} sentences", results[n])
    if output:
        buffer, max_batch_items = pipeline_batching(settings)
        report = {"what": __doc__.split("\n\n")[0], "results": results}
        srsly.write_json(output, {**report, "max_batch_items": max_batch_items, "nlp_batch_size": buffer})
        msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
