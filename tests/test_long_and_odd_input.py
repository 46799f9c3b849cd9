"""A trained pipeline on long and odd input: 100,000 words, nothing, whitespace, emoji, other scripts,
control characters, and text over nlp.max_length (spaCy's E088, not a crash inside)."""

import pytest
import spacy

import scripts.custom_functions  # noqa: F401 -- functions the model's config may name

ODD_TEXTS = {
    "emoji": "Anna Brandt 😀👍🏽 went to Oslo 🇳🇴 with 👨‍👩‍👧 and 🛫.",
    "cjk": "東京で Anna Brandt が Northwind Bank に会った。",
    "cyrillic and greek": "Анна Брандт из Москвы и Ελένη από την Αθήνα.",
    "right to left": "ذهبت آنا إلى أوسلو. שלום Oslo עולם.",
    "indic and combining": "नमस्ते Lisbon e\u0301cole n\u0303 ✓",
    "control characters": "Anna\x00Brandt\x07 in\x1b[31m Oslo\x7f \x0c said\r\n\u0085\u2028\u2029.",
    "zero width and odd spaces": "Anna\u200bBrandt\u00a0in\u2009Oslo\ufeff \u3000 said .",
    "astral": "𝕬𝖓𝖓𝖆 \U0001f600 𐍈 \U000e0001 Redstone Motors",
    "one long word": "x" * 5000,
    "punctuation only": "... !!! ??? ;;; --- ...",
}


@pytest.fixture(scope="module")
def nlp(tiny_pipeline):
    return spacy.load(tiny_pipeline)


def check_doc(doc, text: str) -> None:
    assert doc.text == text  # nothing lost or changed
    for ent in doc.ents:
        assert text[ent.start_char : ent.end_char] == ent.text and ent.label_ in ("PER", "ORG", "LOC", "MISC")
        assert ent.sent.start <= ent.start and ent.end <= ent.sent.end  # within one sentence


@pytest.mark.slow  # seconds of prediction
def test_a_100k_word_text(nlp):
    """One Doc of 100,000 words: the transformer reads it in strided windows, every word gets a vector."""
    words = (
        "Anna Brandt of Northwind Bank said in Lisbon that the Olympic team won . "
        "Shares in Redstone Motors fell 3 percent"
    ).split()
    text = " ".join(words[i % len(words)] for i in range(100_000))
    doc = nlp(text)
    assert len(doc) == 100_000
    check_doc(doc, text)
    assert len(doc.ents) > 10_000  # found all along, not only at the start
    assert doc.ents[-1].end > 99_000
    trf = doc._.trf_data
    assert (trf.align.lengths >= 1).all()  # no word lost to truncation


def test_nothing_and_whitespace(nlp):
    for text in ["", " ", "\n", "  \n\t \r\n  ", "\u3000\u00a0"]:
        doc = nlp(text)
        assert doc.text == text and not doc.ents
        assert [sent.text for sent in doc.sents] == ([text] if len(doc) else [])
    assert [doc.text for doc in nlp.pipe(["", " ", "Oslo", ""])] == ["", " ", "Oslo", ""]


@pytest.mark.parametrize("name", list(ODD_TEXTS))
def test_odd_characters(nlp, name):
    text = ODD_TEXTS[name]
    check_doc(nlp(text), text)


def test_odd_texts_in_one_batch_as_alone(nlp):
    texts = list(ODD_TEXTS.values()) + ["", "Anna Brandt went to Oslo ."]
    alone = [[(e.start_char, e.end_char, e.label_) for e in nlp(text).ents] for text in texts]
    batched = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    assert batched == alone


def test_over_max_length_is_spacys_clear_error(nlp):
    text = "Oslo " * (nlp.max_length // 5 + 1)
    assert len(text) > nlp.max_length
    with pytest.raises(ValueError, match=r"\[E088\]"):
        nlp(text)
    with pytest.raises(ValueError, match=r"\[E088\]"):
        list(nlp.pipe(["Oslo", text]))
