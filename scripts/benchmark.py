"""Words per second of our pipeline against plain Hugging Face, and against what the hardware allows.

Offline: a randomly initialised DistilBERT with distilbert-base-uncased's shape (speed depends on
the shape only) goes into the project's own config, and every system runs on the same generated
sentences (CoNLL-2003 train sentence lengths), the same batches and the same thread count:

  inference  spacy        nlp.pipe of the pipeline in configs/distilbert_ner.cfg, as shipped: it
                          buffers nlp.batch_size Docs and the transformer sorts them by length into
                          forward batches of at most max_batch_items padded pieces
             spacy-same-batches   the same, but fed the other systems' batches
             hf           the notebook's path done well: fast tokenizer (is_split_into_words),
                          one batched DistilBertForTokenClassification forward, argmax of each
                          word's first piece, under torch.inference_mode
             hf-pipeline  transformers.pipeline("token-classification") on the joined sentences
  training   spacy        nlp.update on Examples with gold entities, the config's Adam
             hf           an HF-Trainer-style loop: forward with labels, backward, clip, AdamW

Every measurement runs in its own fresh process, so its peak memory (peak RSS, or peak CUDA memory
on a GPU) is its own. The ceiling is measured GEMM FLOP/s (torch.matmul, fp32 and bf16 on a CPU,
fp16 and bf16 on a GPU) divided by the model's FLOPs per word (see `flops_per_sequence`).
"""
import json
import multiprocessing
import os
import platform
import random
import resource
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import typer
from wasabi import msg

from convert import HF_LABELS

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_DIR / "configs" / "distilbert_ner.cfg"
IOB_LABELS = list(HF_LABELS)  # the notebook's label list
SYSTEMS = {"inference": ("spacy", "spacy-same-batches", "hf", "hf-pipeline"), "training": ("spacy", "hf")}
BASELINE = "hf"


@dataclass
class Shape:
    """distilbert-base-uncased by default."""

    dim: int = 768
    n_layers: int = 6
    n_heads: int = 12
    hidden_dim: int = 3072
    vocab_size: int = 30522


@dataclass
class Settings:
    model_dir: str
    config: str
    texts: List[List[str]]  # inference input
    train_sentences: List[List[List[str]]]  # [words, iob tags] per sentence
    batch_size: int
    threads: int
    seed: int
    gpu: bool
    spacy_overrides: Dict[str, object]


# ---------------------------------------------------------------- FLOPs and the ceiling


def flops_per_sequence(n_pieces: int, shape: Shape, n_labels: int = len(IOB_LABELS)) -> int:
    """Forward FLOPs of DistilBERT plus a token-classification head on one sequence of `n_pieces` (CLS, SEP included).

    Per layer, L = n_pieces, d = dim, h = hidden_dim (a multiply-add counts 2):
      Q, K, V and output projections   4 * 2*L*d*d
      feed-forward, two matmuls        2 * 2*L*d*h
      attention scores QK^T and A.V    2 * 2*L*L*d
    plus the classifier 2*L*d*n_labels. Embedding lookups, softmax, layer norms and GELU are not
    counted (no matmul), so the ceiling is a little optimistic, as a ceiling should be.
    Training is counted as 3x forward (backward needs the gradients of inputs and of weights).
    """
    L, d, h = n_pieces, shape.dim, shape.hidden_dim
    per_layer = 8 * L * d * d + 4 * L * d * h + 4 * L * L * d
    return shape.n_layers * per_layer + 2 * L * d * n_labels


def piece_lengths(model_dir: str, texts: Sequence[Sequence[str]]) -> List[int]:
    """Word pieces per sentence as the models see them, CLS and SEP included."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
    encoded = tokenizer([list(t) for t in texts], is_split_into_words=True, truncation=True)
    return [len(ids) for ids in encoded["input_ids"]]


def gemm_rates(settings: Settings, shape: Shape, seconds: float = 1.0) -> Dict[str, float]:
    """Best measured matmul FLOP/s per dtype, on the model's own GEMM shapes and on a large square one."""
    import torch

    device = "cuda" if settings.gpu else "cpu"
    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16} if settings.gpu else {"fp32": torch.float32, "bf16": torch.bfloat16}
    rows = max(64, settings.batch_size * 24)  # about the pieces in one batch
    shapes = [(rows, shape.dim, shape.hidden_dim), (rows, shape.hidden_dim, shape.dim), (2048, 2048, 2048)]
    rates = {}
    for name, dtype in dtypes.items():
        best = 0.0
        for m, k, n in shapes:
            a = torch.randn(m, k, device=device).to(dtype)
            b = torch.randn(k, n, device=device).to(dtype)
            torch.matmul(a, b)  # warm-up
            _sync(settings.gpu)
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / len(shapes) or calls < 3:
                torch.matmul(a, b)
                calls += 1
                if settings.gpu and calls % 10 == 0:
                    _sync(True)
            _sync(settings.gpu)
            best = max(best, 2 * m * k * n * calls / (time.perf_counter() - start))
        rates[name] = best
    return rates


# ---------------------------------------------------------------- helpers run in the child processes


def _sync(gpu: bool) -> None:
    if gpu:
        import torch

        torch.cuda.synchronize()


def _setup(settings: Settings) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    if settings.gpu:
        torch.cuda.reset_peak_memory_stats()


def _peak_mib(gpu: bool) -> float:
    if gpu:
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _timed(run_batch, batches: List, gpu: bool) -> float:
    """Seconds for all batches, after one untimed warm-up batch."""
    run_batch(batches[0])
    _sync(gpu)
    start = time.perf_counter()
    for batch in batches:
        run_batch(batch)
    _sync(gpu)
    return time.perf_counter() - start


def load_spacy(settings: Settings, sentences: Sequence[Sequence[Sequence[str]]], same_batches: bool = True):
    """The project's pipeline on the benchmark transformer, initialised (labels, weights) on a few gold sentences."""
    import spacy
    from spacy.tokens import Doc

    import custom_functions  # noqa: F401 -- registers the corpus reader the config names

    if settings.gpu:
        from thinc.api import set_gpu_allocator

        set_gpu_allocator("pytorch")  # so that torch's peak memory counts spaCy's arrays too
        spacy.require_gpu()
    overrides = {"paths.transformer": settings.model_dir, "components.transformer.model.mixed_precision": settings.gpu}
    overrides.update(settings.spacy_overrides)
    if same_batches:
        overrides["nlp.batch_size"] = settings.batch_size
    config = spacy.util.load_config(settings.config, overrides=overrides, interpolate=True)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    examples = [custom_functions.gold_tokenized_example(Doc(nlp.vocab, words=w, ents=t)) for w, t in sentences[:32]]
    optimizer = nlp.initialize(lambda: examples)
    return nlp, optimizer


def load_hf(settings: Settings):
    import torch
    from transformers import AutoTokenizer, DistilBertForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(settings.model_dir, use_fast=True)
    model = DistilBertForTokenClassification.from_pretrained(settings.model_dir, num_labels=len(IOB_LABELS))
    if settings.gpu:
        model = model.cuda()
    return tokenizer, model, torch


def measure(task: str, system: str, settings: Settings) -> dict:
    """Run one system on one task in this (fresh) process: words, seconds, peak MiB."""
    _setup(settings)
    if task == "inference":
        words = sum(len(t) for t in settings.texts)
        infer = {"spacy": _infer_spacy, "spacy-same-batches": _infer_spacy_same_batches, "hf": _infer_hf, "hf-pipeline": _infer_hf_pipeline}
        seconds = infer[system](settings)
    else:
        words = sum(len(w) for w, _ in settings.train_sentences)
        seconds = {"spacy": _train_spacy, "hf": _train_hf}[system](settings)
    return {"task": task, "system": system, "words": words, "seconds": seconds, "peak_mib": _peak_mib(settings.gpu)}


def _infer_spacy(settings: Settings, same_batches: bool = False) -> float:
    """nlp.pipe as shipped: it buffers the config's nlp.batch_size Docs, and the transformer sorts them by length
    into forward batches of at most max_batch_items padded pieces. With `same_batches`, every system's batches."""
    from spacy.tokens import Doc

    nlp, _ = load_spacy(settings, settings.train_sentences, same_batches)
    size = settings.batch_size if same_batches else nlp.batch_size

    def run(batch):
        for doc in nlp.pipe((Doc(nlp.vocab, words=words) for words in batch), batch_size=size):
            doc.ents  # noqa: B018 -- the result a user reads

    return _timed(run, list(_batches(settings.texts, size)), settings.gpu)


def _infer_spacy_same_batches(settings: Settings) -> float:
    return _infer_spacy(settings, same_batches=True)


def _infer_hf(settings: Settings) -> float:
    tokenizer, model, torch = load_hf(settings)
    model.eval()
    device = next(model.parameters()).device

    def run(batch):
        encoded = tokenizer(list(batch), is_split_into_words=True, truncation=True, padding=True, return_tensors="pt")
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=settings.gpu):
            logits = model(**{k: v.to(device) for k, v in encoded.items()}).logits
        predicted = logits.argmax(-1).tolist()
        tags = []
        for i in range(len(batch)):
            seen, sentence_tags = set(), []
            for position, word in enumerate(encoded.word_ids(i)):
                if word is not None and word not in seen:
                    seen.add(word)
                    sentence_tags.append(IOB_LABELS[predicted[i][position]])
            tags.append(sentence_tags)
        return tags

    return _timed(run, list(_batches(settings.texts, settings.batch_size)), settings.gpu)


def _infer_hf_pipeline(settings: Settings) -> float:
    from transformers import pipeline

    tokenizer, model, torch = load_hf(settings)
    if settings.gpu:
        model = model.half()
    tagger = pipeline("token-classification", model=model, tokenizer=tokenizer, device=0 if settings.gpu else -1)
    strings = [" ".join(words) for words in settings.texts]

    def run(batch):
        tagger(list(batch), batch_size=settings.batch_size)

    return _timed(run, list(_batches(strings, settings.batch_size)), settings.gpu)


def _train_spacy(settings: Settings) -> float:
    from spacy.tokens import Doc
    from spacy.training import Example

    import custom_functions

    nlp, optimizer = load_spacy(settings, settings.train_sentences)
    examples = [custom_functions.gold_tokenized_example(Doc(nlp.vocab, words=w, ents=t)) for w, t in settings.train_sentences]
    dropout = nlp.config["training"]["dropout"]

    def run(batch: List[Example]):
        nlp.update(batch, sgd=optimizer, drop=dropout, losses={})

    return _timed(run, list(_batches(examples, settings.batch_size)), settings.gpu)


def _train_hf(settings: Settings) -> float:
    tokenizer, model, torch = load_hf(settings)
    model.train()
    device = next(model.parameters()).device
    label_ids = {label: i for i, label in enumerate(IOB_LABELS)}
    # The Trainer's defaults, with the config's learning rate and weight decay.
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n or "layer_norm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n or "layer_norm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-5)
    scaler = torch.amp.GradScaler("cuda", enabled=settings.gpu)

    def run(batch):
        words = [w for w, _ in batch]
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, padding=True, return_tensors="pt")
        labels = []
        for i, (_, tags) in enumerate(batch):
            previous, row = None, []
            for word in encoded.word_ids(i):
                row.append(-100 if word is None or word == previous else label_ids[tags[word]])
                previous = word
            labels.append(row)
        inputs = {k: v.to(device) for k, v in encoded.items()}
        with torch.autocast("cuda", dtype=torch.float16, enabled=settings.gpu):
            loss = model(**inputs, labels=torch.tensor(labels, device=device)).loss
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return _timed(run, list(_batches(settings.train_sentences, settings.batch_size)), settings.gpu)


def measure_ceiling(settings: Settings, shape: Shape) -> Dict[str, float]:
    _setup(settings)
    return gemm_rates(settings, shape)


# ---------------------------------------------------------------- orchestration


def _call(function, args):
    try:
        return True, function(*args)
    except BaseException:  # sent back as text: not every exception pickles
        return False, traceback.format_exc()


def in_child(function, *args):
    """Run `function(*args)` in a fresh spawned process, so its memory peak is its own."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        ok, value = pool.apply(_call, (function, args))
    if not ok:
        raise RuntimeError(f"{function.__name__}{args[:2] if function is measure else ''} failed in its child process:\n{value}")
    return value


def make_inputs(n_sentences: int, n_train_sentences: int, seed: int):
    from synthetic_news import generate_documents, generate_texts

    texts = generate_texts(n_sentences, seed)
    sentences: List[List[List[str]]] = []
    n_docs = 8
    while len(sentences) < n_train_sentences:
        documents = generate_documents(n_docs, seed + 1)
        sentences = [[s.words, s.tags] for document in documents for s in document]
        n_docs *= 2
    return texts, sentences[:n_train_sentences]


def build_transformer(model_dir: Path, shape: Shape, seed: int) -> Path:
    """A random DistilBERT of `shape`; its WordPiece vocab is trained on other generated text than the benchmark's."""
    from make_transformer import make_transformer
    from synthetic_news import generate_texts

    words = [word for sentence in generate_texts(20000, seed + 7) for word in sentence]
    return make_transformer(model_dir, words, dim=shape.dim, n_layers=shape.n_layers, n_heads=shape.n_heads, hidden_dim=shape.hidden_dim, vocab_size=shape.vocab_size, seed=seed)


def summarise(results: List[dict], ceiling: Dict[str, float]) -> List[dict]:
    rows = []
    for result in results:
        rate = result["words"] / result["seconds"]
        baseline = next(r for r in results if r["task"] == result["task"] and r["system"] == BASELINE)
        rows.append(
            {
                **result,
                "words_per_s": rate,
                "ratio_to_hf": rate / (baseline["words"] / baseline["seconds"]),
                "fraction_of_ceiling": rate / ceiling[f"{result['task']}_words_per_s"],
            }
        )
    return rows


def check_targets(rows: List[dict]) -> Dict[str, dict]:
    def rate(task, system):
        return next(r["words_per_s"] for r in rows if r["task"] == task and r["system"] == system)

    targets = {
        "inference_vs_hf": (rate("inference", "spacy") / rate("inference", "hf"), 0.9),
        "inference_vs_hf_pipeline": (rate("inference", "spacy") / rate("inference", "hf-pipeline"), 1.5),
        "training_vs_hf": (rate("training", "spacy") / rate("training", "hf"), 0.8),
    }
    return {name: {"ratio": ratio, "target": target, "met": ratio >= target} for name, (ratio, target) in targets.items()}


def print_table(rows: List[dict], ceiling: dict, targets: dict) -> None:
    header = ("system", "task", "words/s", "x plain HF", "of ceiling", "peak MiB")
    data = [
        (r["system"], r["task"], f"{r['words_per_s']:.0f}", f"{r['ratio_to_hf']:.2f}", f"{r['fraction_of_ceiling']:.1%}", f"{r['peak_mib']:.0f}")
        for r in rows
    ]
    data += [
        ("ceiling", task, f"{ceiling[f'{task}_words_per_s']:.0f}", "", "100.0%", "")
        for task in ("inference", "training")
    ]
    msg.table(data, header=header, divider=True, aligns=("l", "l", "r", "r", "r", "r"))
    for name, target in targets.items():
        (msg.good if target["met"] else msg.warn)(f"{name}: {target['ratio']:.2f} (target >= {target['target']})")


def run_benchmark(
    output: Path,
    shape: Shape = Shape(),
    n_sentences: int = 1200,
    n_train_sentences: int = 384,
    batch_size: int = 32,
    threads: int = 0,
    seed: int = 0,
    gpu: bool = False,
    model_dir: Optional[Path] = None,
    config: Path = DEFAULT_CONFIG,
    spacy_overrides: Optional[Dict[str, object]] = None,
    pipe_buffer: int = 0,
) -> dict:
    threads = threads or os.cpu_count() or 1
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)  # the children inherit it
    if gpu:
        from device import use_device

        use_device(0)  # exits with advice when there is no usable GPU
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None or not (model_dir / "config.json").exists():
            model_dir = Path(model_dir or Path(tmp) / "distilbert")
            msg.info(f"Building a random DistilBERT (dim {shape.dim}, {shape.n_layers} layers) in {model_dir}")
            build_transformer(model_dir, shape, seed)
        texts, train_sentences = make_inputs(n_sentences, n_train_sentences, seed)
        settings = Settings(
            str(model_dir), str(config), texts, train_sentences, batch_size, threads, seed, gpu, dict(spacy_overrides or {})
        )
        if pipe_buffer:
            settings.spacy_overrides["nlp.batch_size"] = pipe_buffer
        lengths = piece_lengths(settings.model_dir, texts)
        train_lengths = piece_lengths(settings.model_dir, [w for w, _ in train_sentences])
        n_words, n_train_words = sum(map(len, texts)), sum(len(w) for w, _ in train_sentences)
        forward_per_word = sum(flops_per_sequence(n, shape) for n in lengths) / n_words
        train_per_word = 3 * sum(flops_per_sequence(n, shape) for n in train_lengths) / n_train_words
        msg.info(f"{len(texts)} sentences ({n_words} words) for inference, {len(train_sentences)} ({n_train_words} words) for training; batch {batch_size}, {threads} threads")
        msg.text("Measuring GEMM FLOP/s ...")
        gemm = in_child(measure_ceiling, settings, shape)
        best = max(gemm.values())
        ceiling = {
            "gemm_flops_per_s": gemm,
            "best_dtype": max(gemm, key=gemm.get),
            "forward_flops_per_word": forward_per_word,
            "training_flops_per_word": train_per_word,
            "pieces_per_word": (sum(lengths) - 2 * len(lengths)) / n_words,
            "inference_words_per_s": best / forward_per_word,
            "training_words_per_s": best / train_per_word,
            "formula": flops_per_sequence.__doc__.strip(),
        }
        msg.text(", ".join(f"{k}: {v / 1e9:.0f} GFLOP/s" for k, v in gemm.items()) + f"; {forward_per_word / 1e6:.1f} MFLOP/word forward")
        results = []
        for task, systems in SYSTEMS.items():
            for system in systems:
                msg.text(f"Measuring {task} of {system} ...")
                result = in_child(measure, task, system, settings)
                msg.text(f"  {result['words'] / result['seconds']:.0f} words/s, peak {result['peak_mib']:.0f} MiB")
                results.append(result)
    rows = summarise(results, ceiling)
    targets = check_targets(rows)
    import torch
    import transformers
    import spacy

    report = {
        "settings": {
            "shape": asdict(shape),
            "pipe_buffer": pipe_buffer or None,
            "n_sentences": len(texts),
            "n_words": n_words,
            "n_train_sentences": len(train_sentences),
            "n_train_words": n_train_words,
            "batch_size": batch_size,
            "threads": threads,
            "seed": seed,
            "device": "cuda" if gpu else "cpu",
            "spacy_overrides": settings.spacy_overrides,
            "machine": platform.processor() or platform.machine(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "spacy": spacy.__version__},
        },
        "ceiling": ceiling,
        "results": rows,
        "targets": targets,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2), encoding="utf8")
    print_table(rows, ceiling, targets)
    msg.good(f"Saved {output}")
    return report


def main(
    output: Path = typer.Option(PROJECT_DIR / "metrics" / "benchmark.json", "--output", "-o", help="JSON report"),
    n_sentences: int = typer.Option(1200, help="Sentences for inference"),
    n_train_sentences: int = typer.Option(384, help="Sentences for training"),
    batch_size: int = typer.Option(32, help="Sentences per batch, for every system"),
    threads: int = typer.Option(0, help="Torch threads; 0: all cores"),
    seed: int = typer.Option(0, help="Seed for the text and the weights"),
    gpu: bool = typer.Option(False, "--gpu", help="Run on CUDA GPU 0 with mixed precision"),
    dim: int = typer.Option(768, help="Hidden size"),
    n_layers: int = typer.Option(6, help="Transformer layers"),
    n_heads: int = typer.Option(12, help="Attention heads"),
    hidden_dim: int = typer.Option(3072, help="Feed-forward size"),
    vocab_size: int = typer.Option(30522, help="Vocab size"),
    model_dir: Optional[Path] = typer.Option(None, help="Keep (or reuse) the random model here instead of a temp folder"),
    config: Path = typer.Option(DEFAULT_CONFIG, exists=True, dir_okay=False, help="spaCy pipeline config"),
    pipe_buffer: int = typer.Option(0, help="Docs nlp.pipe buffers and the transformer sorts by length (nlp.batch_size); 0: the config's"),
) -> None:
    """Inference and training words/s of our pipeline, plain HF and the hardware's ceiling."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    shape = Shape(dim, n_layers, n_heads, hidden_dim, vocab_size)
    run_benchmark(output, shape, n_sentences, n_train_sentences, batch_size, threads, seed, gpu, model_dir, config, pipe_buffer=pipe_buffer)


if __name__ == "__main__":
    typer.run(main)
