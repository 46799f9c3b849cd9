"""Fill README.md's results section from the metrics a run wrote, so no figure there is typed by hand.

The report's training curve and error table go with it, copied into `docs/` (committed, unlike
metrics/) so that the README can show them.
"""

import shutil
from pathlib import Path
from typing import Dict, Optional

import srsly
import typer
from spacy.util import load_config
from wasabi import msg

from scripts import cli

START, END = "<!-- results:start -->", "<!-- results:end -->"
# The report's pictures the README shows, and what they show.
PICTURES = {
    "training": "Training: dev P/R/F and losses per step, the step model-best keeps marked",
    "errors": "Test errors: gold type against predicted type",
}


def results_markdown(
    test_scores: dict, crosscheck: dict, corpus_stats: dict, transformer: str, pictures: Optional[Dict[str, str]] = None
) -> str:
    test = corpus_stats["splits"]["test"]
    lines = [
        f"Transformer: `{transformer}`. Corpus: `{corpus_stats['source']}`, "
        f"Docs of up to {corpus_stats['n_sents']} sentences; test: "
        f"{test['sentences']} sentences, {test['tokens']} tokens, {test['entities_total']} entities. "
        f"Predicted with the transformer in {test_scores.get('inference_precision', 'fp32')}. "
        f"seqeval agrees with spaCy on every figure: **{crosscheck['agree']}** "
        f"(tolerance {crosscheck['tolerance']:g}).",
        "",
        "| | P | R | F |",
        "|---|---:|---:|---:|",
    ]
    for entity_type, scores in sorted(test_scores["ents_per_type"].items()):
        lines.append(f"| {entity_type} | {scores['p']:.3f} | {scores['r']:.3f} | {scores['f']:.3f} |")
    lines.append(
        f"| **all** | **{test_scores['ents_p']:.3f}** | **{test_scores['ents_r']:.3f}** | "
        f"**{test_scores['ents_f']:.3f}** |"
    )
    lines += [f"\n![{PICTURES[name]}]({path})" for name, path in (pictures or {}).items()]
    return "\n".join(lines)


def copy_pictures(report: Path, docs_dir: Path) -> Dict[str, str]:
    """The report's pictures copied to `docs_dir`, as README-relative paths; those the report lacks are left out."""
    found = {}
    for name in PICTURES:
        picture = report.with_name(f"{report.stem}_{name}.png")
        if picture.exists():
            docs_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(picture, docs_dir / f"results_{name}.png")
            found[name] = f"{docs_dir.name}/results_{name}.png"
    return found


def replace_section(readme: str, body: str) -> str:
    if START not in readme or END not in readme:
        raise ValueError(f"README has no results section: expected the markers {START} and {END}")
    head, rest = readme.split(START, 1)
    return f"{head}{START}\n{body}\n{END}{rest.split(END, 1)[1]}"


def main(
    readme: Path = typer.Argument(..., exists=True, dir_okay=False, help="README.md to update"),
    metrics_dir: Path = typer.Option(Path("metrics"), help="Folder with test.json and crosscheck.json"),
    corpus_stats: Path = typer.Option(Path("corpus/stats.json"), help="The corpus step's stats.json"),
    model_dir: Path = typer.Option(Path("training/model-best"), help="The scored pipeline, for its transformer's name"),
    docs_dir: Path = typer.Option(
        Path("docs"), help="Where the report's pictures are copied for the README (beside README.md)"
    ),
) -> None:
    read = srsly.read_json
    transformer = load_config(model_dir / "config.cfg")["paths"]["transformer"]
    pictures = copy_pictures(metrics_dir / "report.html", docs_dir)
    body = results_markdown(
        read(metrics_dir / "test.json"),
        read(metrics_dir / "crosscheck.json"),
        read(corpus_stats),
        transformer,
        pictures,
    )
    try:
        readme.write_text(replace_section(readme.read_text(encoding="utf8"), body), encoding="utf8")
    except ValueError as err:
        msg.fail(f"{readme}: {err}", exits=1)
    msg.good(f"Updated the results section of {readme}")


if __name__ == "__main__":
    cli.run(main)
