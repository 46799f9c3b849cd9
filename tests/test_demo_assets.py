"""The same seed gives byte-identical demo assets: the invented CoNLL sample and the tiny transformer."""

from pathlib import Path

from scripts.demo_data import make_demo_data
from scripts.make_transformer import conll_words, make_transformer, wordpiece_vocab


def files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_demo_assets_are_byte_identical_for_one_seed(tmp_path):
    for run in ("a", "b"):
        make_demo_data(tmp_path / run / "conll", n_train_docs=6, n_eval_docs=2, seed=3)
        words = list(conll_words([tmp_path / run / "conll" / "train.txt"]))
        make_transformer(tmp_path / run / "transformer", words, dim=32, n_layers=1, n_heads=2, hidden_dim=64, seed=3)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert {"conll/train.txt", "transformer/config.json", "transformer/tokenizer.json", "transformer/vocab.txt"} <= set(
        files(tmp_path / "a")
    )


def test_vocab_covers_every_word_and_orders_ties_alphabetically():
    vocab = wordpiece_vocab(["Oslo", "bank", "Bank", "zeta", "alpha", "Café"], vocab_size=1000, lowercase=True)
    words = [piece for piece in vocab if len(piece) > 1 and not piece.startswith(("##", "["))]
    assert words == [
        "bank",
        "alpha",
        "cafe",
        "oslo",
        "zeta",
    ]  # normalised as the tokenizer does; by count, then alphabetically
    assert {"p", "##7", "##q"} <= set(vocab) and "é" not in vocab
    assert list(vocab.values()) == list(range(len(vocab)))
