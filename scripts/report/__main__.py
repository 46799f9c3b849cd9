"""`python -m scripts.report`: the command line over scripts.report.build.build_report."""

from pathlib import Path

import typer
from wasabi import msg

from scripts import cli
from scripts.report.build import build_report
from scripts.report.page import image_paths


def main(
    training_dir: Path = typer.Option(
        Path("training"), "--training-dir", help="The train step's folder, with train_log.jsonl"
    ),
    corpus_dir: Path = typer.Option(Path("corpus"), "--corpus-dir", help="The corpus step's folder, with test.spacy"),
    metrics_dir: Path = typer.Option(
        Path("metrics"), "--metrics-dir", help="Folder with test.json, crosscheck.json, test_predictions.spacy"
    ),
    output: Path = typer.Option(
        Path("metrics/report.html"), "--output", "-o", help="The page; its PNGs are written beside it"
    ),
    examples: int = typer.Option(3, "--examples", min=0, help="Example sentences per error kind"),
) -> None:
    missing = build_report(training_dir, corpus_dir, metrics_dir, output, examples)
    if missing:
        msg.warn(f"{len(missing)} input(s) missing or unreadable; the page says so too")
        print("".join(f"- {problem}\n" for problem in missing))
    pictures = ", ".join(str(p) for p in image_paths(output).values() if p.exists())
    msg.good(f"Wrote {output}{' (with what is missing, above)' if missing else ''}", f"Pictures: {pictures or 'none'}")


if __name__ == "__main__":
    cli.run(main)
