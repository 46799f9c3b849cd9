"""The benchmark's inputs: invented sentences with CoNLL-2003's lengths, and a random DistilBERT of a given shape."""
from pathlib import Path
from typing import List, Sequence

from scripts.benchmark.ceiling import Shape
from scripts.make_transformer import make_transformer
from scripts.synthetic_news import generate_documents, generate_texts

DEFAULT_CONFIG = Path("configs/distilbert_ner.cfg")  # the project's pipeline, which every tool here times


def piece_lengths(model_dir: str, texts: Sequence[Sequence[str]]) -> List[int]:
    """Word pieces per sentence as the models see them, CLS and SEP included."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
    encoded = tokenizer([list(t) for t in texts], is_split_into_words=True, truncation=True)
    return [len(ids) for ids in encoded["input_ids"]]


def gold_sentences(n: int, seed: int) -> List[List[List[str]]]:
    """`n` invented sentences with gold tags, [words, IOB tags] each, from whole generated documents."""
    sentences: List[List[List[str]]] = []
    n_docs = 8
    while len(sentences) < n:
        sentences = [[s.words, s.tags] for document in generate_documents(n_docs, seed) for s in document]
        n_docs *= 2
    return sentences[:n]


def make_inputs(n_sentences: int, n_train_sentences: int, seed: int):
    return generate_texts(n_sentences, seed), gold_sentences(n_train_sentences, seed + 1)


def build_transformer(model_dir: Path, shape: Shape, seed: int) -> Path:
    """A random DistilBERT of `shape`; its WordPiece vocab is trained on other generated text than the benchmark's."""
    words = [word for sentence in generate_texts(20000, seed + 7) for word in sentence]
    return make_transformer(model_dir, words, dim=shape.dim, n_layers=shape.n_layers, n_heads=shape.n_heads, hidden_dim=shape.hidden_dim, vocab_size=shape.vocab_size, seed=seed)


