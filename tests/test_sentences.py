"""Sentence starts on raw text: the config's sentencizer sets them before the NER, and keeps those a Doc already has."""

import random

import pytest
import spacy
from spacy.tokens import Doc

import scripts.custom_functions  # noqa: F401 -- functions the model's config may name
from conftest import PROJECT_DIR

CONFIG = spacy.util.load_config(PROJECT_DIR / "configs/distilbert_ner.cfg")
WORDS = (
    "Anna Brandt Northwind Bank Lisbon Oslo Olympic European Cup Redstone Motors Felix Moreau Summit Rovers Games "
    "Open the of in said . ! ? ; - 3 1996"
).split()


def sentencizer_pipeline() -> spacy.language.Language:
    """A blank English pipeline with the config's sentencizer block, as it stands there."""
    nlp = spacy.blank("en")
    settings = {key: value for key, value in CONFIG["components"]["sentencizer"].items() if key != "factory"}
    nlp.add_pipe(CONFIG["components"]["sentencizer"]["factory"], config=settings)
    return nlp


def starts(doc: Doc) -> list:
    return [token.i for token in doc if token.is_sent_start]


def word_salad(n: int, seed: int = 0) -> list:
    """Texts of the demo's words and sentence punctuation in random order: they tempt the NER across a boundary."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25))) for _ in range(n)]


def crossing(doc: Doc, sentence_starts) -> list:
    return [ent for ent in doc.ents if any(ent.start < i < ent.end for i in sentence_starts)]


@pytest.fixture(scope="module")
def trained_nlp(tiny_pipeline):
    return spacy.load(tiny_pipeline)


def test_sentencizer_sets_starts_on_raw_text():
    doc = sentencizer_pipeline()("Anna Brandt went to Oslo. Shares fell! Did they? Yes")
    assert [sent.text for sent in doc.sents] == ["Anna Brandt went to Oslo.", "Shares fell!", "Did they?", "Yes"]


@pytest.mark.parametrize(
    "sent_starts",
    [
        [True, False, False, True, False, False],  # starts where no punctuation is
        [True, False, False, False, False, False],  # one sentence, over a full stop
        [True, None, None, True, None, None],  # some set, the rest left open
    ],
    ids=["all set", "one sentence", "partly set"],
)
def test_sentencizer_keeps_existing_starts(sent_starts):
    nlp = sentencizer_pipeline()
    words = ["Anna", "left", ".", "Oslo", "won", "."]
    doc = nlp(Doc(nlp.vocab, words=words, sent_starts=sent_starts))
    for i, given in enumerate(sent_starts):
        if given is not None:
            assert doc[i].is_sent_start == given or (i == 0 and doc[i].is_sent_start)
    if None in sent_starts:  # the open ones are filled by punctuation: a start after "." at 3 (kept)
        assert starts(doc) == [0, 3]


def test_sentencizer_leaves_gold_starts_of_the_corpus_reader(demo_corpus):
    from scripts.corpus_reader import create_gold_sentences_corpus

    nlp = sentencizer_pipeline()
    for example in create_gold_sentences_corpus(demo_corpus / "dev.spacy")(nlp):
        before = starts(example.predicted)
        assert starts(nlp(example.predicted)) == before == starts(example.reference)


def test_trained_model_has_the_sentencizer_and_no_entity_crosses_a_sentence(trained_nlp):
    assert trained_nlp.pipe_names == ["transformer", "sentencizer", "ner"]
    texts = word_salad(1500)
    with_starts = list(trained_nlp.pipe(texts))
    assert all(doc.has_annotation("SENT_START") for doc in with_starts)
    assert not [ent for doc in with_starts for ent in crossing(doc, starts(doc))]
    # Not vacuous: the texts hold many boundaries and entities. (Whether the model crosses a boundary
    # without the sentencizer depends on how far it trained, so that is not asserted.)
    assert sum(len(starts(doc)) - 1 for doc in with_starts) > 1000 and sum(len(doc.ents) for doc in with_starts) > 100


def test_crossing_finds_an_entity_across_a_boundary():
    doc = Doc(
        spacy.blank("en").vocab, words=["in", "Oslo", ".", "Euro", "Cup"], ents=["O", "B-LOC", "I-LOC", "I-LOC", "O"]
    )
    assert [ent.text for ent in crossing(doc, [3])] == ["Oslo . Euro"]
    assert crossing(doc, [4]) == []  # an entity may end where a sentence starts


def test_trained_model_keeps_a_docs_own_sentence_starts(trained_nlp):
    words = "Anna Brandt of Northwind Bank said in Lisbon . Oslo won the match against Summit Rovers".split()
    sent_starts = [i in (0, 5, 13) for i in range(len(words))]  # not where punctuation would put them
    doc = trained_nlp(Doc(trained_nlp.vocab, words=words, sent_starts=sent_starts))
    assert starts(doc) == [0, 5, 13]
    assert not crossing(doc, [5, 13])


def test_evaluation_scores_do_not_change_with_the_sentencizer(trained_nlp, demo_corpus):
    from scripts.evaluate import evaluate

    with_it, examples = evaluate(trained_nlp, demo_corpus / "test.spacy")
    with trained_nlp.select_pipes(disable=["sentencizer"]):
        without, _ = evaluate(trained_nlp, demo_corpus / "test.spacy")
    with_it.pop("speed"), without.pop("speed")
    assert with_it == without
    assert with_it["ents_f"] is not None and not any(key.startswith("sents") for key in with_it)
    assert all(starts(eg.predicted) == starts(eg.reference) for eg in examples)
