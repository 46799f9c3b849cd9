"""The same predictions scored by spaCy (entity spans per Doc) and by seqeval (IOB2 tags per
sentence, as conlleval reads them), and every figure on which they differ, by name.

They agree only if no predicted entity crosses a sentence boundary, which the gold sentence starts
given to the NER guarantee (scripts/corpus_reader.py).
"""

from pathlib import Path
from typing import Dict, List, Optional

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from spacy.scorer import Scorer
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.vocab import Vocab

from scripts.conll import iob2_tags, split_by_sentences

TOLERANCE = 1e-9


def read_predictions(gold_path: Path, predicted_path: Path) -> List[Example]:
    """Examples pairing the gold Docs with the predicted ones, Doc by Doc, as evaluate wrote them.

    A bare Vocab: reading words and entities needs no language, and spacy.blank("en") loads every package's
    entry points (spacy-transformers, torch and transformers: seconds a process)."""
    vocab = Vocab()
    gold = list(DocBin().from_disk(gold_path).get_docs(vocab))
    predicted = list(DocBin().from_disk(predicted_path).get_docs(vocab))
    if len(gold) != len(predicted):
        raise ValueError(f"{predicted_path}: {len(predicted)} Docs: expected {len(gold)}, one per Doc of {gold_path}")
    for i, (reference, doc) in enumerate(zip(gold, predicted)):
        if [t.text for t in reference] != [t.text for t in doc]:
            raise ValueError(
                f"{predicted_path}: Doc {i} has other tokens than Doc {i} of {gold_path}: expected gold tokenization"
            )
    return [Example(doc, reference) for doc, reference in zip(predicted, gold)]


def sentence_tags(examples: List[Example]) -> Dict[str, List[List[str]]]:
    """Words, gold and predicted IOB2 tags, one list per gold sentence (the conlleval view)."""
    view: Dict[str, List[List[str]]] = {"words": [], "gold": [], "predicted": []}
    for eg in examples:
        reference, predicted = eg.reference, eg.predicted
        view["words"] += split_by_sentences(reference, [t.text for t in reference])
        view["gold"] += split_by_sentences(reference, iob2_tags(reference))
        view["predicted"] += split_by_sentences(reference, iob2_tags(predicted))
    return view


def spacy_scores(examples: List[Example]) -> dict:
    scores = Scorer.score_spans(examples, "ents")
    # With no entity in gold or predicted spaCy says None; seqeval (zero_division=0) says 0.
    return {
        "p": scores["ents_p"] or 0.0,
        "r": scores["ents_r"] or 0.0,
        "f": scores["ents_f"] or 0.0,
        "per_type": {t: dict(v) for t, v in sorted((scores["ents_per_type"] or {}).items())},
    }


def seqeval_scores(gold: List[List[str]], predicted: List[List[str]]) -> dict:
    """seqeval's default mode, which reads tags as conlleval does; no division by zero warnings."""
    has_entities = any(tag != "O" for sentence in gold + predicted for tag in sentence)
    # seqeval's report cannot be made without any entity (it takes the max of no names).
    report = classification_report(gold, predicted, output_dict=True, zero_division=0) if has_entities else {}
    types = sorted(t for t in report if not t.endswith(" avg"))
    return {
        "report": classification_report(gold, predicted, digits=4, zero_division=0)
        if has_entities
        else "no entities\n",
        "p": float(precision_score(gold, predicted, zero_division=0)),
        "r": float(recall_score(gold, predicted, zero_division=0)),
        "f": float(f1_score(gold, predicted, zero_division=0)),
        "per_type": {
            t: {
                "p": float(report[t]["precision"]),
                "r": float(report[t]["recall"]),
                "f": float(report[t]["f1-score"]),
                "support": int(report[t]["support"]),
            }
            for t in types
        },
    }


def differences(spacy_side: dict, other_side: dict, other: str = "seqeval", tolerance: float = TOLERANCE) -> List[str]:
    """Names of the figures that disagree, with both values."""
    found = []
    for key in "prf":
        if abs(spacy_side[key] - other_side[key]) > tolerance:
            found.append(f"ents_{key}: spaCy {spacy_side[key]!r} != {other} {other_side[key]!r}")
    for entity_type in sorted(set(spacy_side["per_type"]) | set(other_side["per_type"])):
        ours, theirs = spacy_side["per_type"].get(entity_type), other_side["per_type"].get(entity_type)
        if ours is None or theirs is None:
            found.append(f"ents_per_type.{entity_type}: only {other if ours is None else 'spaCy'} reports it")
            continue
        for key in "prf":
            if abs(ours[key] - theirs[key]) > tolerance:
                found.append(f"ents_per_type.{entity_type}.{key}: spaCy {ours[key]!r} != {other} {theirs[key]!r}")
    return found


def crosscheck(examples: List[Example], reported: Optional[dict] = None) -> dict:
    """Both scorers on the same predictions; `reported` (evaluate's scores) must match spaCy's too."""
    view = sentence_tags(examples)
    ours, theirs = spacy_scores(examples), seqeval_scores(view["gold"], view["predicted"])
    mismatches = differences(ours, theirs)
    if reported is not None:
        as_reported = {
            "p": reported["ents_p"],
            "r": reported["ents_r"],
            "f": reported["ents_f"],
            "per_type": reported.get("ents_per_type") or {},
        }
        mismatches += [f"reported {m}" for m in differences(ours, as_reported, other="reported")]
    return {
        "agree": not mismatches,
        "tolerance": TOLERANCE,
        "mismatches": mismatches,
        "docs": len(examples),
        "sentences": len(view["words"]),
        "tokens": sum(len(s) for s in view["words"]),
        "spacy": ours,
        "seqeval": theirs,
    }


def write_predictions(path: Path, view: Dict[str, List[List[str]]]) -> None:
    """`token gold predicted` per line, a blank line after each sentence: what conlleval reads."""
    with path.open("w", encoding="utf8") as file:
        for words, gold, predicted in zip(view["words"], view["gold"], view["predicted"]):
            file.writelines(f"{w} {g} {p}\n" for w, g, p in zip(words, gold, predicted))
            file.write("\n")
