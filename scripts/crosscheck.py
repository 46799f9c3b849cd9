"""Score evaluate's saved test predictions with seqeval and demand that spaCy's Scorer, seqeval and
metrics/test.json agree on every figure. Reads two DocBins: no model, no GPU.
"""

from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from scripts import cli
from scripts.scoring import TOLERANCE, crosscheck, read_predictions, sentence_tags, write_predictions


def print_table(result: dict) -> None:
    ours, theirs = result["spacy"], result["seqeval"]
    rows = [
        (
            t,
            *(f"{ours['per_type'][t][k]:.4f}" for k in "prf"),
            *(f"{theirs['per_type'][t][k]:.4f}" for k in "prf"),
            theirs["per_type"][t]["support"],
        )
        for t in theirs["per_type"]
        if t in ours["per_type"]
    ]
    support = sum(v["support"] for v in theirs["per_type"].values())
    rows.append(("micro avg", *(f"{ours[k]:.4f}" for k in "prf"), *(f"{theirs[k]:.4f}" for k in "prf"), support))
    header = ("", "spaCy P", "spaCy R", "spaCy F", "seqeval P", "seqeval R", "seqeval F", "support")
    msg.table(rows, header=header, divider=True, aligns=("l",) + ("r",) * 7)


def main(
    gold_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Gold test DocBin (corpus/test.spacy)"),
    predicted_path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="evaluate's predicted Docs (metrics/test_predictions.spacy)"
    ),
    reported_path: Optional[Path] = typer.Option(
        None, "--reported", help="Scores from evaluate (metrics/test.json) that must agree too"
    ),
    output: Path = typer.Option(
        Path("metrics/crosscheck.json"), "--output", "-o", help="Both scorers' figures as JSON"
    ),
    conll_path: Path = typer.Option(
        Path("metrics/test_predictions.conll"), "--conll", help="Token, gold and predicted tag per line"
    ),
) -> None:
    try:
        examples = read_predictions(gold_path, predicted_path)
    except ValueError as err:
        msg.fail("Cannot pair the predictions with gold", str(err), exits=1)
    reported = srsly.read_json(reported_path) if reported_path else None
    result = crosscheck(examples, reported)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)
    write_predictions(conll_path, sentence_tags(examples))
    print(result["seqeval"]["report"])
    print_table(result)
    if not result["agree"]:
        msg.fail(
            f"spaCy and seqeval disagree on {len(result['mismatches'])} figure(s)",
            "\n".join(result["mismatches"]),
            exits=1,
        )
    msg.good(
        f"spaCy, seqeval{' and ' + str(reported_path) if reported_path else ''} agree on every figure "
        f"within {TOLERANCE:g} ({result['sentences']} sentences, {result['tokens']} tokens): "
        f"F {result['spacy']['f']:.4f}. Wrote {output} and {conll_path}"
    )


if __name__ == "__main__":
    cli.run(main)
