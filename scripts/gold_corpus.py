"""A corpus reader that gives the pipeline gold tokens, whole Docs and gold sentence starts.

spaCy's own Corpus either keeps document context but drops sentence starts from the predicted
Doc, or (`gold_preproc`) keeps sentences but cuts every Doc into them. With the starts kept, the
transition-based NER cannot open or continue an entity across a sentence boundary, so what the
model predicts is scored the same by spaCy (per Doc) and by seqeval or conlleval (per sentence).
Training, the dev scores during training, evaluate and crosscheck all read Docs this way.
"""
from pathlib import Path
from typing import Callable, Iterable, Iterator

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example


def gold_tokenized_example(reference: Doc) -> Example:
    """An Example whose predicted Doc has the reference's words and sentence starts, nothing else."""
    predicted = Doc(
        reference.vocab,
        words=[token.text for token in reference],
        spaces=[bool(token.whitespace_) for token in reference],
        sent_starts=[token.is_sent_start for token in reference],
    )
    return Example(predicted, reference)


def read_examples(nlp: Language, path: Path) -> Iterator[Example]:
    for reference in DocBin().from_disk(path).get_docs(nlp.vocab):
        yield gold_tokenized_example(reference)


@spacy.registry.readers("ner_distilbert.GoldSentencesCorpus.v1")
def create_gold_sentences_corpus(path: Path) -> Callable[[Language], Iterable[Example]]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such DocBin: expected the output of the corpus step (scripts/convert.py)")
    return lambda nlp: read_examples(nlp, path)
