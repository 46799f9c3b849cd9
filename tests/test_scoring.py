"""seqeval and spaCy's Scorer on hand-made predictions: they agree exactly, and a disagreement is named."""

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from scripts.scoring import (
    crosscheck,
    differences,
    read_predictions,
    sentence_tags,
    seqeval_scores,
    spacy_scores,
    write_predictions,
)

WORDS = ["Anna", "Lind", "met", "Harbor", "Bank", "in", "Oslo", ".", "Euro", "Cup", "starts", "in", "Lima"]
SENT_STARTS = [True] + [False] * 7 + [True] + [False] * 4
GOLD = [(0, 2, "PER"), (3, 5, "ORG"), (6, 7, "LOC"), (8, 10, "MISC"), (12, 13, "LOC")]  # Doc edges included


def example(predicted_spans, gold_spans=GOLD):
    vocab = spacy.blank("en").vocab
    reference = Doc(vocab, words=WORDS, sent_starts=SENT_STARTS)
    reference.ents = [Span(reference, s, e, label) for s, e, label in gold_spans]
    eg = Example(Doc(vocab, words=WORDS, sent_starts=SENT_STARTS), reference)
    eg.predicted.ents = [Span(eg.predicted, s, e, label) for s, e, label in predicted_spans]
    return eg


CASES = {
    "perfect": GOLD,
    "empty predictions": [],
    "wrong type": [(0, 2, "ORG"), (3, 5, "ORG"), (6, 7, "PER"), (8, 10, "MISC"), (12, 13, "LOC")],
    "off by one": [(0, 1, "PER"), (2, 5, "ORG"), (6, 8, "LOC"), (9, 10, "MISC"), (11, 13, "LOC")],
    "doc edges only": [(0, 2, "PER"), (12, 13, "LOC")],
    "extra type only predicted": GOLD + [(10, 11, "ORG")],
}


@pytest.mark.parametrize("case", CASES)
def test_spacy_and_seqeval_agree(case):
    examples = [example(CASES[case]), example(GOLD)]
    result = crosscheck(examples)
    assert result["agree"], result["mismatches"]
    assert result["sentences"] == 4 and result["tokens"] == 2 * len(WORDS)
    assert set(result["spacy"]["per_type"]) == set(result["seqeval"]["per_type"])


def test_empty_predictions_score_zero_on_both():
    result = crosscheck([example([])])
    assert result["spacy"]["f"] == result["seqeval"]["f"] == 0.0


def test_gold_without_entities_and_no_predictions():
    result = crosscheck([example([], gold_spans=[])])
    assert result["agree"] and result["spacy"]["per_type"] == result["seqeval"]["per_type"] == {}


def test_entity_across_a_sentence_boundary_is_a_named_disagreement():
    """What gold sentence starts prevent: seqeval splits this span in two, spaCy counts one."""
    result = crosscheck([example([(0, 2, "PER"), (7, 10, "MISC")])])  # ". | Euro Cup"
    assert not result["agree"]
    assert result["spacy"]["per_type"]["MISC"]["r"] == 0.0 and result["seqeval"]["per_type"]["MISC"]["r"] == 1.0
    assert any(m.startswith("ents_p:") for m in result["mismatches"])
    assert any(m.startswith("ents_per_type.MISC.r:") for m in result["mismatches"])


def test_reported_scores_must_match_too():
    eg = example(CASES["off by one"])
    ours = spacy_scores([eg])
    reported = {"ents_p": ours["p"], "ents_r": ours["r"], "ents_f": ours["f"] + 0.01, "ents_per_type": ours["per_type"]}
    result = crosscheck([eg], reported)
    assert result["mismatches"] == [f"reported ents_f: spaCy {ours['f']!r} != reported {ours['f'] + 0.01!r}"]


def test_differences_within_tolerance_pass():
    side = {"p": 0.5, "r": 0.5, "f": 0.5, "per_type": {"LOC": {"p": 0.5, "r": 0.5, "f": 0.5}}}
    close = {"p": 0.5 + 1e-12, "r": 0.5, "f": 0.5, "per_type": {"LOC": {"p": 0.5, "r": 0.5, "f": 0.5}}}
    assert differences(side, close) == []
    assert differences(side, {**close, "per_type": {}}) == ["ents_per_type.LOC: only spaCy reports it"]


def test_seqeval_reads_stray_i_tags_as_conlleval_does():
    scores = seqeval_scores([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]])
    assert scores["f"] == 1.0


def test_predictions_file_is_what_conlleval_reads(tmp_path):
    path = tmp_path / "predictions.conll"
    write_predictions(path, sentence_tags([example(CASES["wrong type"])]))
    blocks = path.read_text().split("\n\n")
    assert blocks[0].splitlines()[0] == "Anna B-PER B-ORG"
    assert len([b for b in blocks if b.strip()]) == 2
    assert all(len(line.split()) == 3 for b in blocks for line in b.splitlines())


def test_predictions_are_read_back_from_docbins(tmp_path):
    examples = [example(CASES["off by one"]), example(GOLD)]
    DocBin(docs=[eg.reference for eg in examples]).to_disk(tmp_path / "gold.spacy")
    DocBin(docs=[eg.predicted for eg in examples]).to_disk(tmp_path / "predicted.spacy")
    read = read_predictions(tmp_path / "gold.spacy", tmp_path / "predicted.spacy")
    assert crosscheck(read) == crosscheck(examples)
    DocBin(docs=[examples[0].predicted]).to_disk(tmp_path / "short.spacy")
    with pytest.raises(ValueError, match=r"short.spacy: 1 Docs: expected 2, one per Doc of .*gold.spacy"):
        read_predictions(tmp_path / "gold.spacy", tmp_path / "short.spacy")
    other = Doc(examples[0].predicted.vocab, words=["x"] * len(WORDS))
    DocBin(docs=[examples[0].predicted, other]).to_disk(tmp_path / "other.spacy")
    with pytest.raises(ValueError, match=r"other.spacy: Doc 1 has other tokens than Doc 1"):
        read_predictions(tmp_path / "gold.spacy", tmp_path / "other.spacy")
