"""The corpus reader the config names: gold tokens, whole Docs and gold sentence starts.

spaCy's own Corpus either keeps document context but leaves the predicted Doc without sentence starts, or
(`gold_preproc`) keeps sentences but cuts every Doc into them. With the starts kept, the transition-based NER
cannot open or continue an entity across a sentence boundary, so what the model predicts is scored the same
by spaCy (per Doc) and by seqeval or conlleval (per sentence). Training, the dev scores during training,
evaluate and crosscheck all read Docs this way.
"""

from pathlib import Path
from typing import Callable, Iterator, List, Optional

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example


def with_gold_sentence_starts(example: Example) -> Example:
    """The Example with the reference's sentence starts copied onto its predicted Doc (through the
    alignment, so a predicted Doc tokenized otherwise gets them too); nothing else is added."""
    predicted = example.predicted
    aligned = example.get_aligned("SENT_START")
    sent_starts = [i == 0 or value == 1 for i, value in enumerate(aligned)]
    words = [token.text for token in predicted]
    spaces = [bool(token.whitespace_) for token in predicted]
    return Example(Doc(predicted.vocab, words=words, spaces=spaces, sent_starts=sent_starts), example.reference)


class GoldSentencesCorpus(Corpus):
    """spaCy's Corpus (limit, shuffle, augmenter, max_length as there), whose Examples carry the gold
    sentence starts on their predicted side."""

    def __call__(self, nlp: Language) -> Iterator[Example]:
        for example in super().__call__(nlp):
            yield with_gold_sentence_starts(example)


def gold_example(vocab, words: List[str], tags: List[str]) -> Example:
    """A training Example as the reader makes them: gold tokens and sentence starts on the predicted side."""
    return with_gold_sentence_starts(Example(Doc(vocab, words=words), Doc(vocab, words=words, ents=tags)))


@spacy.registry.readers("ner_distilbert.GoldSentencesCorpus.v1")
def create_gold_sentences_corpus(
    path: Optional[Path],
    *,
    limit: int = 0,
    max_length: int = 0,
    shuffle: bool = False,
    augmenter: Optional[Callable] = None,
) -> GoldSentencesCorpus:
    """spacy.Corpus.v1's settings but gold_preproc: Docs stay whole, as the DocBin holds them."""
    if path is None or not Path(path).exists():
        raise FileNotFoundError(
            f"{path}: no such DocBin: expected the output of the corpus step (python -m scripts.corpus)"
        )
    return GoldSentencesCorpus(path, limit=limit, max_length=max_length, shuffle=shuffle, augmenter=augmenter)
