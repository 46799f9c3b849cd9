"""Build a randomly initialised encoder (DistilBERT by default; BERT, ELECTRA, RoBERTa, XLM-R, DeBERTa-v2) with a
tokenizer made from CoNLL files, saved as an HF model folder.

`python -m scripts.make_transformer OUTPUT_DIR CONLL_FILES... [--architecture bert]`. The hub is out of reach offline,
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
    characters = sorted(
        set("".join(counts)) | set(normalizer.normalize_str(string.ascii_letters + string.digits + string.punctuation))
    )
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
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tokenizer


# The encoder families a test or the demo can build, each with the tokenizer kind its hub models use.
ARCHITECTURES = ("distilbert", "bert", "electra", "roberta", "xlm-roberta", "deberta-v2")
TOKENIZER_KINDS = {
    "distilbert": "wordpiece",
    "bert": "wordpiece",
    "electra": "wordpiece",
    "roberta": "bpe",
    "xlm-roberta": "unigram",
    "deberta-v2": "unigram",
}
# RoBERTa's special tokens in its order (ids 0, 1, ...): its pad is 1, as on the hub.
BPE_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def bpe_tokenizer(words: List[str], vocab_size: int):
    """A RoBERTa-style byte-level BPE tokenizer trained on `words` (one thread: the same words give the same merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BPE_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_sentences(words), trainer=trainer)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>"))
    )
    return tokenizer


def sentencepiece_model(words: List[str], vocab_size: int, architecture: str, lowercase: bool) -> bytes:
    """A SentencePiece Unigram model trained on `words` (one thread, so the same words give the same model), laid
    out as the family's hub models are: XLM-R's <unk> <s> </s> (its tokenizer puts <pad> among them), DeBERTa-v3's
    [PAD] [CLS] [SEP] [UNK]. spacy-transformers keeps this file (the tokenizer's vocab_file) with the pipeline."""
    import io

    import sentencepiece

    ids = (
        {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}
        if architecture == "xlm-roberta"
        else {
            "pad_id": 0,
            "bos_id": 1,
            "eos_id": 2,
            "unk_id": 3,
            "pad_piece": "[PAD]",
            "bos_piece": "[CLS]",
            "eos_piece": "[SEP]",
            "unk_piece": "[UNK]",
        }
    )
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=_sentences(words),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        num_threads=1,
        hard_vocab_limit=False,
        character_coverage=1.0,
        normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc",
        minloglevel=2,
        **ids,
    )
    return model.getvalue()


def _sentences(words: List[str], per_line: int = 20) -> Iterator[str]:
    for i in range(0, len(words), per_line):
        yield " ".join(words[i : i + per_line])


def fast_tokenizer(architecture: str, words: List[str], vocab_size: int, lowercase: bool, folder: Path):
    """The family's fast tokenizer, made offline from `words`; a SentencePiece family's model file goes to `folder`."""
    import transformers

    kind = TOKENIZER_KINDS[architecture]
    if kind == "wordpiece":
        tokenizer_class = {
            "distilbert": "DistilBertTokenizerFast",
            "bert": "BertTokenizerFast",
            "electra": "ElectraTokenizerFast",
        }[architecture]
        backend = wordpiece_tokenizer(wordpiece_vocab(words, vocab_size, lowercase), lowercase)
        return getattr(transformers, tokenizer_class)(
            tokenizer_object=backend, do_lower_case=lowercase, model_max_length=512
        )
    if kind == "bpe":
        return transformers.RobertaTokenizerFast(
            tokenizer_object=bpe_tokenizer(words, vocab_size), model_max_length=512
        )
    tokenizer_class, file_name = {
        "xlm-roberta": (transformers.XLMRobertaTokenizerFast, "sentencepiece.bpe.model"),
        "deberta-v2": (transformers.DebertaV2TokenizerFast, "spm.model"),
    }[architecture]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file_name).write_bytes(sentencepiece_model(words, vocab_size, architecture, lowercase))
    return tokenizer_class(
        vocab_file=str(folder / file_name),
        model_max_length=512,
        **({} if architecture == "xlm-roberta" else {"do_lower_case": lowercase}),
    )


def model_config(
    architecture: str, vocab_size: int, dim: int, n_layers: int, n_heads: int, hidden_dim: int, pad_token_id: int
):
    """The family's config at the given shape (BERT's names for the sizes; DistilBERT's own)."""
    from transformers import AutoConfig

    if architecture == "distilbert":
        return AutoConfig.for_model(
            "distilbert",
            vocab_size=vocab_size,
            dim=dim,
            n_layers=n_layers,
            n_heads=n_heads,
            hidden_dim=hidden_dim,
            max_position_embeddings=512,
        )
    sizes = {
        "hidden_size": dim,
        "num_hidden_layers": n_layers,
        "num_attention_heads": n_heads,
        "intermediate_size": hidden_dim,
    }
    family = {
        "bert": {"max_position_embeddings": 512},
        "electra": {"embedding_size": dim, "max_position_embeddings": 512},
        # RoBERTa's positions start after the pad id, as on the hub (514 = 512 + 2)
        "roberta": {"max_position_embeddings": 514, "type_vocab_size": 1, "bos_token_id": 0, "eos_token_id": 2},
        "xlm-roberta": {"max_position_embeddings": 514, "type_vocab_size": 1, "bos_token_id": 0, "eos_token_id": 2},
        # DeBERTa-v3's attention: relative positions in buckets, content-to-position both ways, no absolute positions
        "deberta-v2": {
            "max_position_embeddings": 512,
            "relative_attention": True,
            "position_buckets": 256,
            "norm_rel_ebd": "layer_norm",
            "share_att_key": True,
            "pos_att_type": ["p2c", "c2p"],
            "position_biased_input": False,
            "max_relative_positions": -1,
            "type_vocab_size": 0,
        },
    }[architecture]
    return AutoConfig.for_model(architecture, vocab_size=vocab_size, pad_token_id=pad_token_id, **sizes, **family)


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
    architecture: str = "distilbert",
    outlier_scale: float = 0.0,
) -> Path:
    """Save a random model of `architecture` (ARCHITECTURES) and its fast tokenizer to `output_dir`, as the
    hub's models of that family are laid out: the same arguments give the same files. `outlier_scale`:
    give it the activation ranges of a real pretrained encoder (with_outlier_features)."""
    import torch
    from transformers import AutoModel

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r}: expected one of {', '.join(ARCHITECTURES)}")
    if not words:
        raise ValueError("no words to build the tokenizer's vocab from")
    tokenizer = fast_tokenizer(architecture, words, vocab_size, lowercase, output_dir)
    config = model_config(
        architecture, max(vocab_size, len(tokenizer)), dim, n_layers, n_heads, hidden_dim, tokenizer.pad_token_id
    )
    torch.manual_seed(seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_config(config)
    if outlier_scale:
        with_outlier_features(model, outlier_scale)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def with_outlier_features(model, scale: float, n_dims: int = 2) -> None:
    """Random weights keep every hidden dimension in one range; pretrained BERT-family encoders do not: a few
    dimensions of their hidden states run several times larger than the rest (all-MiniLM-L6-v2 on WikiGold
    sentences: 6 to 10 in its largest three, where the median dimension peaks at 1.6 to 1.7). Scaling the
    same `n_dims` dimensions of every LayerNorm's weight by `scale` (and shifting their bias) gives a random
    model such ranges, which is what rounding to bf16 or int8 meets in a real model."""
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
        dims = torch.randperm(norms[0].weight.shape[0], generator=generator)[:n_dims]
        for norm in norms:
            norm.weight[dims] *= scale
            norm.bias[dims] += scale / 4


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
    architecture: str = typer.Option("distilbert", help=f"The model family: {', '.join(ARCHITECTURES)}"),
    outlier_scale: float = typer.Option(
        0.0, help="Scale a few hidden dimensions by this, as a pretrained encoder's are (0: none)"
    ),
) -> None:
    missing = [str(p) for p in conll_files if not p.is_file()]
    if missing:
        msg.fail("No such CoNLL file", ", ".join(missing), exits=1)
    words = list(conll_words(conll_files))
    if architecture not in ARCHITECTURES:
        raise typer.BadParameter(
            f"{architecture!r}: expected one of {', '.join(ARCHITECTURES)}", param_hint="--architecture"
        )
    make_transformer(
        output_dir, words, dim, n_layers, n_heads, hidden_dim, vocab_size, not cased, seed, architecture, outlier_scale
    )
    msg.good(
        f"Saved a random {architecture} ({n_layers} layers, dim {dim}) to {output_dir}, vocab from {len(words)} tokens"
    )


if __name__ == "__main__":
    cli.run(main)
