"""Invented news-like sentences with CoNLL-2003's sentence and document lengths, tagged with its four
entity types or with any others (`labels`).

The demo corpus and the benchmark text come from here. Every name and word below is made up or
generic; no CoNLL-2003 text is used, only the length histograms in conll2003_figures.json. A type
without a word list here gets invented names of its own, the same for the same type name.
"""

import random
import zlib
from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import srsly

from scripts.conll import Document, Sentence

FIGURES_PATH = Path(__file__).parent / "data" / "conll2003_figures.json"
# CoNLL-2003's types, in the order the generator draws from (the demo's bytes depend on it).
CONLL_TYPES = ("PER", "ORG", "LOC", "MISC")

FIRST_NAMES = (
    "Anna Boris Carla Dmitri Elena Felix Greta Hugo Ines Jonas Karin Luca Mira Nils Olga Pavel Rosa Stefan Tomas Vera"
).split()
LAST_NAMES = (
    "Adler Brandt Costa Dorn Evans Fischer Grant Horvat Ivanov Jansen Kowalski Lind Moreau Novak Okafor "
    "Petrov Quinn Rossi Silva Tanaka"
).split()
ORG_HEADS = "Northwind Bluecrest Ironvale Silverline Redstone Harbor Summit Granite Meridian Oakridge".split()
ORG_TAILS = "Bank Motors Airlines Holdings Group Energy Telecom United Rovers Insurance".split()
PLACES = (
    "Lisbon Oslo Nairobi Quito Hanoi Tbilisi Perth Dakar Riga Lima Osaka Porto Bergen Cairo Kenya Norway Chile Peru"
).split()
MISC_WORDS = "European Olympic Asian Dutch French Brazilian Nordic Baltic Andean Pacific".split()
MISC_TAILS = ("Cup", "Open", "Games", "Championship")
FILLER = (
    "the a on Tuesday Monday percent market shares rose fell after year government said officials would has been "
    "in of to and for its first last week police match points million dollars talks minister told reporters "
    "results won lost against team season bonds trade prices expected up down 1996 3 12 , -"
).split()
# Words before (or after, for `said`) a mention that hint at its type, as news text has them.
CUES = {
    "PER": (("coach", None), ("told", None), (None, "said"), ("striker", None)),
    "ORG": (("shares", "in"), (None, "said"), ("of", None), ("beat", None)),
    "LOC": (("in", None), ("from", None), ("to", None), (None, "(")),
    "MISC": (("the", None), ("at", "the"), (None, "officials"), (None, "team")),
}
GENERIC_CUES = (("the", None), ("about", None), (None, "said"), ("of", None))
SYLLABLES = "ba ko ri ne ta lu mo sa vi de no ra ki pe lo zu".split()


def load_figures(path: Path = FIGURES_PATH) -> dict:
    return srsly.read_json(path)


def histogram(figures: dict, split: str, name: str) -> Tuple[List[int], List[int]]:
    counts = figures["splits"][split][name]
    return [int(k) for k in counts], list(counts.values())


def mention(entity_type: str, rng: random.Random) -> List[str]:
    if entity_type == "PER":
        return [rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)][rng.random() < 0.3 :]
    if entity_type == "ORG":
        return [rng.choice(ORG_HEADS), rng.choice(ORG_TAILS)][: 1 + (rng.random() < 0.7)]
    if entity_type == "LOC":
        return [rng.choice(PLACES)]
    if entity_type == "MISC":
        return [rng.choice(MISC_WORDS), rng.choice(MISC_TAILS)][: 1 + (rng.random() < 0.4)]
    names = invented_names(entity_type)
    return [rng.choice(names) for _ in range(1 + (rng.random() < 0.4))]


@lru_cache(maxsize=None)
def invented_names(entity_type: str) -> Tuple[str, ...]:
    """Eight capitalised invented words for a type without a word list, seeded by its name."""
    rng = random.Random(zlib.crc32(entity_type.encode("utf8")))
    return tuple("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize() for _ in range(8))


def generate_sentence(
    length: int, rng: random.Random, entity_rate: float = 0.25, labels: Sequence[str] = CONLL_TYPES
) -> Sentence:
    """A sentence of exactly `length` tokens, ending in a full stop when it is longer than 3,
    with entities of `labels`."""
    words: List[str] = []
    tags: List[str] = []
    body = length - 1 if length > 3 else length
    while len(words) < body:
        if rng.random() < entity_rate:
            entity_type = rng.choice(labels)
            before, after = rng.choice(CUES.get(entity_type, GENERIC_CUES))
            name = mention(entity_type, rng)
            name_tags = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(name) - 1)
            phrase = [w for w in (before,) if w] + name + [w for w in (after,) if w]
            phrase_tags = ["O"] * bool(before) + name_tags + ["O"] * bool(after)
            room = body - len(words)
            if len(phrase) > room:  # no room for the cues: the name alone, cut to fit
                phrase, phrase_tags = name[:room], name_tags[:room]
            words += phrase
            tags += phrase_tags
        else:
            words.append(rng.choice(FILLER))
            tags.append("O")
    if length > 3:
        words.append(".")
        tags.append("O")
    return Sentence(words, tags)


def generate_documents(
    n_docs: int,
    seed: int,
    split: str = "train",
    max_sentences: Optional[int] = None,
    figures: Optional[dict] = None,
    labels: Sequence[str] = CONLL_TYPES,
) -> List[Document]:
    """Documents whose sentence counts and lengths are drawn from the CoNLL-2003 histograms of `split`."""
    figures = figures or load_figures()
    rng = random.Random(seed)
    lengths, length_weights = histogram(figures, split, "sentence_length_histogram")
    doc_sizes, doc_weights = histogram(figures, split, "sentences_per_document_histogram")
    documents = []
    for _ in range(n_docs):
        n_sentences = rng.choices(doc_sizes, doc_weights)[0]
        if max_sentences:
            n_sentences = min(n_sentences, max_sentences)
        sizes = rng.choices(lengths, length_weights, k=n_sentences)
        documents.append([generate_sentence(size, rng, labels=labels) for size in sizes])
    return documents


def generate_texts(
    n_sentences: int, seed: int, figures: Optional[dict] = None, labels: Sequence[str] = CONLL_TYPES
) -> List[List[str]]:
    """Sentences of words only, lengths as in CoNLL-2003 train: the benchmark's input."""
    figures = figures or load_figures()
    rng = random.Random(seed)
    lengths, weights = histogram(figures, "train", "sentence_length_histogram")
    return [generate_sentence(size, rng, labels=labels).words for size in rng.choices(lengths, weights, k=n_sentences)]
