"""Build a randomly initialised DistilBERT with a WordPiece vocab counted from CoNLL files, saved as an HF model folder.

`python -m scripts.make_transformer OUTPUT_DIR CONLL_FILES...`. The hub is out of reach offline,
so the demo and the tests train on this instead of
distilbert-base-uncased; the config loads it by path exactly as it loads a hub name. The
benchmark builds one with distilbert-base-uncased's shape, since speed depends on the shape only.
"""
import string
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, Iterator, List

import typer
from wasabi import msg

from scripts import cli
from scripts.conll import DOCSTART

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def conll_words(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        with path.open(encoding="utf-8-sig") as file:
            for line in file:
                columns = line.split()
                if columns and columns[0] != DOCSTART:
                    yield columns[0]


def wordpiece_vocab(words: Iterable[str], vocab_size: int, lowercase: bool) -> Dict[str, int]:
    """A WordPiece vocab made by counting, so the same words always give the same vocab.

    (`tokenizers`' WordPiece trainer breaks ties differently from run to run, so the same seed gave
    other models.) Special tokens, then every character of the normalised words and every ASCII letter, digit and
    punctuation mark, alone and as a `##` continuation, so any word splits into known pieces; then
    whole words by frequency (ties alphabetically) until `vocab_size`.
    """
    from tokenizers import normalizers

    normalizer = normalizers.BertNormalizer(lowercase=lowercase)  # as the tokenizer will see the words
    counts = Counter(normalizer.normalize_str(word) for word in words)
    characters = sorted(set("".join(counts)) | set(normalizer.normalize_str(string.ascii_letters + string.digits + string.punctuation)))
    pieces = SPECIAL_TOKENS + characters + [f"##{c}" for c in characters]
    known = set(pieces)
    for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if len(pieces) >= vocab_size:
            break
        if word not in known:
            pieces.append(word)
            known.add(word)
    return {piece: i for i, piece in enumerate(pieces)}


def wordpiece_tokenizer(vocab: Dict[str, int], lowercase: bool):
    """A BERT-style fast tokenizer over `vocab`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return tokenizer


def make_transformer(
    output_dir: Path,
    words: List[str],
    dim: int = 64,
    n_layers: int = 2,
    n_heads: int = 4,
    hidden_dim: int = 128,
    vocab_size: int = 2000,
    lowercase: bool = True,
    seed: int = 0,
) -> Path:
    """Save a DistilBertModel and its fast tokenizer to `output_dir`: the same arguments give the same files."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    if not words:
        raise ValueError("no words to train the WordPiece vocab on")
    vocab = wordpiece_vocab(words, vocab_size, lowercase)
    tokenizer = DistilBertTokenizerFast(tokenizer_object=wordpiece_tokenizer(vocab, lowercase), do_lower_case=lowercase, model_max_length=512)
    torch.manual_seed(seed)
    config = DistilBertConfig(
        vocab_size=max(vocab_size, len(tokenizer)), dim=dim, n_layers=n_layers, n_heads=n_heads, hidden_dim=hidden_dim, max_position_embeddings=512
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    DistilBertModel(config).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def main(
    output_dir: Path = typer.Argument(..., help="Folder to save the HF model and tokenizer to"),
    conll_files: List[Path] = typer.Argument(..., help="CoNLL files whose tokens train the WordPiece vocab"),
    dim: int = typer.Option(64, help="Hidden size (distilbert-base: 768)"),
    n_layers: int = typer.Option(2, help="Transformer layers (distilbert-base: 6)"),
    n_heads: int = typer.Option(4, help="Attention heads (distilbert-base: 12)"),
    hidden_dim: int = typer.Option(128, help="Feed-forward size (distilbert-base: 3072)"),
    vocab_size: int = typer.Option(2000, help="Vocab size, at least (distilbert-base: 30522)"),
    cased: bool = typer.Option(False, "--cased", help="Keep case, like distilbert-base-cased"),
    seed: int = typer.Option(0, help="Seed for the random weights"),
) -> None:
    missing = [str(p) for p in conll_files if not p.is_file()]
    if missing:
        msg.fail("No such CoNLL file", ", ".join(missing), exits=1)
    words = list(conll_words(conll_files))
    make_transformer(output_dir, words, dim, n_layers, n_heads, hidden_dim, vocab_size, not cased, seed)
    msg.good(f"Saved a random DistilBERT ({n_layers} layers, dim {dim}) to {output_dir}, vocab counted from {len(words)} tokens")


if __name__ == "__main__":
    cli.run(main)
