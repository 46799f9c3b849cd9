"""spaCy's scores on a DocBin read with gold tokens and document context, and displaCy pages of gold beside predicted.

`spacy evaluate` would either drop the sentence starts or (`--gold-preproc`) cut Docs into
sentences; this reads the Docs as training's dev scoring does (scripts/custom_functions.py).
"""
import json
from pathlib import Path
from typing import List, Optional

import spacy
import typer
from spacy import displacy
from spacy.training import Example
from wasabi import msg

from device import use_device
from custom_functions import read_examples



def evaluate(nlp, data_path: Path, batch_size: Optional[int] = None) -> tuple:
    """Scores as `nlp.evaluate` gives them, and the Examples with their predictions."""
    examples = list(read_examples(nlp, data_path))
    scores = nlp.evaluate(examples, batch_size=batch_size)
    return scores, examples


def gold_beside_predicted(examples: List[Example], limit: int) -> str:
    """One HTML page: each Doc's gold entities, then the model's."""
    docs = []
    for i, eg in enumerate(examples[:limit]):
        for doc, kind in ((eg.reference, "gold"), (eg.predicted, "predicted")):
            doc.user_data["title"] = f"Doc {i}: {kind}"
            docs.append(doc)
    return displacy.render(docs, style="ent", page=True, jupyter=False)


def main(
    model: str = typer.Argument(..., help="Pipeline to evaluate: a package name or a folder"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin to score on"),
    output: Path = typer.Option(Path("metrics/test.json"), "--output", "-o", help="Scores as JSON"),
    displacy_path: Optional[Path] = typer.Option(None, "--displacy-path", help="HTML page of gold beside predicted"),
    displacy_limit: int = typer.Option(5, "--displacy-limit", help="Docs on the displaCy page"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to run on; -1 for the CPU"),
) -> None:
    use_device(gpu_id)
    nlp = spacy.load(model)
    scores, examples = evaluate(nlp, data_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf8")
    rows = [(t, *(f"{v[k] * 100:.2f}" for k in "prf")) for t, v in sorted((scores["ents_per_type"] or {}).items())]
    rows.append(("all", *(f"{scores[f'ents_{k}'] * 100:.2f}" for k in "prf")))
    msg.table(rows, header=("", "P", "R", "F"), divider=True, aligns=("l", "r", "r", "r"))
    msg.good(f"Saved scores of {len(examples)} Docs to {output} ({scores['speed']:.0f} words/s)")
    if displacy_path:
        displacy_path.parent.mkdir(parents=True, exist_ok=True)
        displacy_path.write_text(gold_beside_predicted(examples, displacy_limit), encoding="utf8")
        msg.good(f"Saved gold beside predicted for {min(displacy_limit, len(examples))} Docs to {displacy_path}")


if __name__ == "__main__":
    typer.run(main)
