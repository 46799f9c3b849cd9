"""Run the model over the test DocBin once: spaCy's scores, the predicted Docs, a displaCy page.

`spacy evaluate` would either drop the sentence starts or (`--gold-preproc`) cut Docs into
sentences; this reads the Docs as training's dev scoring does (scripts/corpus_reader.py) and keeps the
predictions, so crosscheck and the report score the very Docs that were scored here.
"""

import time
from pathlib import Path
from typing import List, Optional, Tuple

import spacy
import srsly
import typer
from spacy import displacy
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import DocBin
from spacy.training import Example
from wasabi import msg

import scripts.ner_model.architectures  # noqa: F401 -- registers what a trained pipeline's config names
from scripts import cli
from scripts.corpus_reader import create_gold_sentences_corpus
from scripts.gpu import use_device
from scripts.ner_model.hardware import PRECISIONS
from scripts.ner_model.precision import precision_overrides, predicting_precision

PREDICTED_ATTRS = ["ORTH", "SENT_START", "ENT_IOB", "ENT_TYPE"]


def evaluate(nlp: Language, data_path: Path, batch_size: Optional[int] = None) -> Tuple[dict, List[Example]]:
    """The scores `Language.evaluate` gives (speed included) plus the transformer's inference precision,
    and the Examples holding the predictions, which `Language.evaluate` does not hand back."""
    examples = list(create_gold_sentences_corpus(data_path)(nlp))
    start = time.perf_counter()
    docs = list(nlp.pipe((eg.predicted for eg in examples), batch_size=batch_size or nlp.batch_size))
    seconds = time.perf_counter() - start
    for eg, doc in zip(examples, docs):
        eg.predicted = doc
    scores = Scorer(nlp).score(examples)
    scores["speed"] = sum(len(doc) for doc in docs) / max(seconds, 1e-9)
    scores["inference_precision"] = predicting_precision(nlp)
    return scores, examples


def fp32_scores(model: str, data_path: Path) -> dict:
    """The overall and per-type scores in fp32, kept beside a faster precision's, so that a user of any CPU
    (and the package's meta) knows both."""
    scores, _ = evaluate(spacy.load(model, config=precision_overrides("fp32")), data_path)
    msg.info(f"fp32 for comparison: F {scores['ents_f'] * 100:.2f}")
    return {key: scores[key] for key in ("ents_f", "ents_p", "ents_r", "ents_per_type", "speed")}


def predictions_docbin(examples: List[Example]) -> DocBin:
    return DocBin(attrs=PREDICTED_ATTRS, store_user_data=False, docs=(eg.predicted for eg in examples))


def gold_beside_predicted(examples: List[Example], limit: int) -> str:
    """One HTML page: each Doc's gold entities, then the model's."""
    docs = []
    for i, eg in enumerate(examples[:limit]):
        for doc, kind in ((eg.reference, "gold"), (eg.predicted, "predicted")):
            doc.user_data["title"] = f"Doc {i}: {kind} ({len(doc.ents)} entities)"
            docs.append(doc)
    return displacy.render(docs, style="ent", page=True, jupyter=False)


def print_scores(scores: dict) -> None:
    rows = [(t, *(f"{v[k] * 100:.2f}" for k in "prf")) for t, v in sorted((scores["ents_per_type"] or {}).items())]
    rows.append(("all", *(f"{(scores[f'ents_{k}'] or 0) * 100:.2f}" for k in "prf")))
    msg.table(rows, header=("", "P", "R", "F"), divider=True, aligns=("l", "r", "r", "r"))


def main(
    model: str = typer.Argument(..., help="Pipeline to evaluate: a package name or a folder"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin to score on"),
    output: Path = typer.Option(Path("metrics/test.json"), "--output", "-o", help="spaCy's scores as JSON"),
    predictions: Path = typer.Option(
        Path("metrics/test_predictions.spacy"), "--predictions", help="The predicted Docs, a DocBin"
    ),
    displacy_path: Optional[Path] = typer.Option(None, "--displacy-path", help="HTML page of gold beside predicted"),
    displacy_limit: int = typer.Option(5, "--displacy-limit", help="Docs on the displaCy page"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to run on; -1 for the CPU"),
    precision: Optional[str] = typer.Option(
        None,
        "--precision",
        help=f"Transformer inference precision, one of {', '.join(PRECISIONS)}; default: the pipeline's config",
    ),
) -> None:
    use_device(gpu_id)
    nlp = spacy.load(model, config=precision_overrides(precision))
    scores, examples = evaluate(nlp, data_path)
    if scores["inference_precision"] != "fp32":
        scores["fp32"] = fp32_scores(model, data_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, scores)
    predictions.parent.mkdir(parents=True, exist_ok=True)
    predictions_docbin(examples).to_disk(predictions)
    print_scores(scores)
    n_predicted = sum(len(eg.predicted.ents) for eg in examples)
    msg.good(
        f"Scored {len(examples)} Docs ({n_predicted} entities predicted, {scores['speed']:.0f} words/s, "
        f"transformer in {scores['inference_precision']}): {output}, {predictions}"
    )
    if displacy_path:
        displacy_path.parent.mkdir(parents=True, exist_ok=True)
        displacy_path.write_text(gold_beside_predicted(examples, displacy_limit), encoding="utf8")
        msg.good(f"Saved gold beside predicted for {min(displacy_limit, len(examples))} Docs to {displacy_path}")


if __name__ == "__main__":
    cli.run(main)
