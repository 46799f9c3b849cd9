"""Write the demo's CoNLL sample (invented sentences) as train.txt, valid.txt, test.txt:
`python -m scripts.demo_data OUTPUT_DIR`; the same seed writes the same bytes.

By default CoNLL-2003's four types in its layout (IOB2, document markers). `--labels`, `--layout tsv`
and `--scheme bilou` write other data of the same kind, e.g. WNUT-17's: a token and a tag split by a
tab, sentences without documents.
"""

from pathlib import Path
from typing import Sequence

import typer
from wasabi import msg

from scripts import cli
from scripts.conll import LAYOUTS, SCHEMES, parse_labels, write_conll
from scripts.synthetic_news import CONLL_TYPES, generate_documents

FILES = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}


def make_demo_data(
    output_dir: Path,
    n_train_docs: int,
    n_eval_docs: int,
    seed: int,
    labels: Sequence[str] = CONLL_TYPES,
    layout: str = "conll2003",
    scheme: str = "iob2",
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    sizes = {"train": n_train_docs, "dev": n_eval_docs, "test": n_eval_docs}
    for offset, (split, name) in enumerate(FILES.items()):
        documents = generate_documents(sizes[split], seed + offset, split=split, max_sentences=20, labels=labels)
        write_conll(output_dir / name, documents, layout, scheme)
        n_sentences = sum(len(d) for d in documents)
        marked = "" if layout == "conll2003" else " (not marked in the file)"
        msg.info(f"{output_dir / name}: {len(documents)} documents{marked}, {n_sentences} sentences")


def main(
    output_dir: Path = typer.Argument(..., help="Folder for train.txt, valid.txt and test.txt"),
    n_train_docs: int = typer.Option(60, help="Documents in train.txt"),
    n_eval_docs: int = typer.Option(15, help="Documents in valid.txt and in test.txt"),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same files"),
    labels: str = typer.Option(" ".join(CONLL_TYPES), help="Entity types, split by commas or spaces"),
    layout: str = typer.Option(
        "conll2003", help=f"One of {', '.join(LAYOUTS)}: CoNLL-2003's columns and documents, or token<TAB>tag"
    ),
    scheme: str = typer.Option("iob2", help=f"Tag scheme: one of {', '.join(SCHEMES)}"),
) -> None:
    make_demo_data(output_dir, n_train_docs, n_eval_docs, seed, parse_labels(labels) or CONLL_TYPES, layout, scheme)


if __name__ == "__main__":
    cli.run(main)
