"""The benchmark's inputs: invented sentences with CoNLL-2003's lengths, a random DistilBERT of a given shape,
and a trained pipeline in a given precision."""

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


def calibration_sentences(n: int, seed: int) -> List[List[str]]:
    """The words of the first `n` training sentences of benchmark.agreement's run with `seed` (its training set,
    seed + 1's), on which it calibrates int8-static."""
    return [words for words, _ in gold_sentences(n, seed + 1)]


def pipeline_in(model: Path, precision: str, n_calibration: int = 512, seed: int = 0):
    """The trained pipeline in `model`, predicting in `precision`; for int8-static with a copy calibrated as
    benchmark.agreement calibrates one (calibration_sentences)."""
    import spacy
    from spacy.tokens import Doc

    import scripts.custom_functions  # noqa: F401 -- registers what the pipeline's config names
    from scripts.ner_model.precision import INFERENCE_PRECISION_KEY, calibrate_int8_static, predicting_precision

    nlp = spacy.load(model, config={INFERENCE_PRECISION_KEY: precision})
    if precision == "int8-static":
        calibration = calibration_sentences(n_calibration, seed)
        calibrate_int8_static(nlp, [Doc(nlp.vocab, words=words) for words in calibration])
    if predicting_precision(nlp) != precision:
        raise ValueError(f"{model} predicts in {predicting_precision(nlp)} when asked for {precision}")
    return nlp


def make_inputs(n_sentences: int, n_train_sentences: int, seed: int):
    return generate_texts(n_sentences, seed), gold_sentences(n_train_sentences, seed + 1)


def build_transformer(model_dir: Path, shape: Shape, seed: int) -> Path:
    """A random DistilBERT of `shape`; its WordPiece vocab is trained on other generated text than the benchmark's."""
    words = [word for sentence in generate_texts(20000, seed + 7) for word in sentence]
    return make_transformer(
        model_dir,
        words,
        dim=shape.dim,
        n_layers=shape.n_layers,
        n_heads=shape.n_heads,
        hidden_dim=shape.hidden_dim,
        vocab_size=shape.vocab_size,
        seed=seed,
    )
