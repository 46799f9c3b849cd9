"""Write the demo's CoNLL-2003-format sample (invented sentences, IOB2) as train.txt, valid.txt, test.txt:
`python -m scripts.demo_data OUTPUT_DIR`; the same seed writes the same bytes.
"""
from pathlib import Path

import typer
from wasabi import msg

from scripts.conll import write_conll
from scripts.synthetic_news import generate_documents

FILES = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}


def make_demo_data(output_dir: Path, n_train_docs: int, n_eval_docs: int, seed: int) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    sizes = {"train": n_train_docs, "dev": n_eval_docs, "test": n_eval_docs}
    for offset, (split, name) in enumerate(FILES.items()):
        documents = generate_documents(sizes[split], seed + offset, split=split, max_sentences=20)
        write_conll(output_dir / name, documents)
        n_sentences = sum(len(d) for d in documents)
        msg.info(f"{output_dir / name}: {len(documents)} documents, {n_sentences} sentences")


def main(
    output_dir: Path = typer.Argument(..., help="Folder for train.txt, valid.txt and test.txt"),
    n_train_docs: int = typer.Option(60, help="Documents in train.txt"),
    n_eval_docs: int = typer.Option(15, help="Documents in valid.txt and in test.txt"),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same files"),
) -> None:
    make_demo_data(output_dir, n_train_docs, n_eval_docs, seed)


if __name__ == "__main__":
    typer.run(main)
