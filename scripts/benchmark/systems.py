"""What is measured: each system's inference or training on the same inputs, one per fresh process.

`measure` and `measure_ceiling` run in a child process (`__main__.in_child`), so the peak memory
each reports is its own. Every system's step is here beside the others, so that what each one times
can be compared line by line.
"""

import functools
import os
import random
import resource
import time
import traceback
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence, Tuple

from scripts.benchmark.ceiling import IOB_LABELS, Shape, gemm_rates, sync

SYSTEMS = {
    "inference": (
        "spacy",
        "spacy-fp32",
        "spacy-int8",
        "spacy-int8-static",
        "spacy-bf16",
        "spacy-same-batches",
        "hf",
        "hf-sorted",
        "hf-bf16",
        "hf-pipeline",
    ),
    "training": ("spacy", "spacy-fp32", "spacy-bf16", "hf", "hf-bf16"),
}
# bf16 (autocast, or spaCy's bf16 inference copy), measured on CPUs with native bf16 only (elsewhere bf16 is
# emulated: no baseline, no gain); hf-bf16 is HF at its best on such a CPU.
NATIVE_BF16_ONLY = ("hf-bf16", "spacy-bf16")
# Untimed training batches before the clock starts, for both systems. spaCy's Language.update calls each
# component's finish_update right after that component's own update, so the transformer's optimizer step
# for a batch runs at the next update, once the NER has backpropagated into it: the first update leaves the
# transformer's Adam state unallocated, the second allocates it (seconds at distilbert-base's size).
TRAINING_WARM_UP = 2
NOTES: Dict[str, object] = {}  # what a system reports besides its timing (this process measures one system)


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


def call_in_child(function, args):
    """What `__main__.in_child` runs in the child. It lives here, not in `__main__`: under `python -m` that
    module is `__main__`, which the forkserver's children cannot import by name."""
    try:
        return True, function(*args)
    except BaseException:  # sent back as text: not every exception pickles
        return False, traceback.format_exc()


def setup_process(settings: Settings) -> None:
    """Offline, quiet, seeded, on the settings' threads."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
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


def _timed(run_batch, batches: List, gpu: bool, warm_up: int = 1) -> float:
    """Seconds for all batches, after `warm_up` untimed batches."""
    for batch in batches[:warm_up]:
        run_batch(batch)
    sync(gpu)
    start = time.perf_counter()
    for batch in batches:
        run_batch(batch)
    sync(gpu)
    return time.perf_counter() - start


def load_spacy(
    settings: Settings, sentences: Sequence[Sequence[Sequence[str]]], same_batches: bool = True, precision: str = ""
):
    """The project's pipeline on the benchmark transformer, initialised (labels, weights) on a few gold sentences."""
    import spacy

    import scripts.custom_functions  # noqa: F401 -- registers what the config names
    from scripts.corpus_reader import gold_example
    from scripts.ner_model.precision import INFERENCE_PRECISION_KEY

    if settings.gpu:
        from thinc.api import set_gpu_allocator

        set_gpu_allocator("pytorch")  # so that torch's peak memory counts spaCy's arrays too
        spacy.require_gpu()
    overrides = {"paths.transformer": settings.model_dir, "components.transformer.model.mixed_precision": settings.gpu}
    overrides.update(settings.spacy_overrides)
    if same_batches:  # each of the other systems' batches is one forward pass, unsorted, as theirs are
        overrides["nlp.batch_size"] = settings.batch_size
        overrides["components.transformer.max_batch_items"] = settings.batch_size * 512
    if precision:
        overrides[INFERENCE_PRECISION_KEY] = precision
    config = spacy.util.load_config(settings.config, overrides=overrides, interpolate=True)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    examples = [gold_example(nlp.vocab, w, t) for w, t in sentences[:32]]
    optimizer = nlp.initialize(lambda: examples)
    return nlp, optimizer


def load_hf(settings: Settings):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(settings.model_dir, use_fast=True)
    model = AutoModelForTokenClassification.from_pretrained(settings.model_dir, num_labels=len(IOB_LABELS))
    if settings.gpu:
        model = model.cuda()
    return tokenizer, model, torch


def measure(task: str, system: str, settings: Settings) -> dict:
    """Run one system on one task in this (fresh) process: words, seconds, peak MiB."""
    setup_process(settings)
    if task == "inference":
        words = sum(len(t) for t in settings.texts)
        infer = {
            "spacy": _infer_spacy,
            "spacy-fp32": functools.partial(_infer_spacy, precision="fp32"),
            "spacy-int8": functools.partial(_infer_spacy, precision="int8"),
            "spacy-int8-static": functools.partial(_infer_spacy, precision="int8-static"),
            "spacy-bf16": functools.partial(_infer_spacy, precision="bf16"),
            "spacy-same-batches": _infer_spacy_same_batches,
            "hf": _infer_hf,
            "hf-sorted": _infer_hf_sorted,
            "hf-bf16": _infer_hf_bf16,
            "hf-pipeline": _infer_hf_pipeline,
        }
        seconds = infer[system](settings)
    else:
        words = sum(len(w) for w, _ in settings.train_sentences)
        run, batches = TRAINING_STEPS[system](settings)
        seconds = _timed(run, batches, settings.gpu, TRAINING_WARM_UP)
    import torch

    return {
        "task": task,
        "system": system,
        "words": words,
        "seconds": seconds,
        "peak_mib": _peak_mib(settings.gpu),
        "torch_threads": torch.get_num_threads(),
        **NOTES,
    }


def _infer_spacy(settings: Settings, same_batches: bool = False, precision: str = "") -> float:
    """nlp.pipe as shipped: it buffers the config's nlp.batch_size Docs, and the transformer sorts them by length
    into forward batches of at most max_batch_items padded words, in the config's inference precision.
    With `same_batches`, every system's batches; with `precision`, that precision. The first (untimed) batch
    builds the int8 copy, if any (a one-off cost at the first prediction); int8-static's copy is calibrated
    on the training sentences first, untimed, as the package step does. `measure` reports the precision used."""
    from spacy.tokens import Doc

    from scripts.ner_model.precision import calibrate_int8_static, predicting_precision

    nlp, _ = load_spacy(settings, settings.train_sentences, same_batches, precision)
    if precision == "int8-static":
        calibrate_int8_static(nlp, [Doc(nlp.vocab, words=words) for words, _ in settings.train_sentences])
    size = settings.batch_size if same_batches else nlp.batch_size
    NOTES["precision"] = predicting_precision(nlp)

    def run(batch):
        for doc in nlp.pipe((Doc(nlp.vocab, words=words) for words in batch), batch_size=size):
            doc.ents  # noqa: B018 -- the result a user reads

    return _timed(run, list(_batches(settings.texts, size)), settings.gpu)


def _infer_spacy_same_batches(settings: Settings) -> float:
    """fp32, so that it compares the pipeline's own overhead with HF's on equal terms."""
    return _infer_spacy(settings, same_batches=True, precision="fp32")


def pipeline_batching(settings: Settings) -> Tuple[int, int]:
    """The pipeline's nlp.batch_size (Docs nlp.pipe buffers) and the transformer's max_batch_items,
    overrides applied."""
    import spacy

    overrides = {"paths.transformer": settings.model_dir, **settings.spacy_overrides}
    config = spacy.util.load_config(settings.config, overrides=overrides, interpolate=True)
    return config["nlp"]["batch_size"], config["components"]["transformer"]["max_batch_items"]


def _infer_hf(settings: Settings, sort_like_pipeline: bool = False, bf16: bool = False) -> float:
    """The notebook's path done well. With `sort_like_pipeline`, the forward batches the shipped pipeline makes:
    buffer nlp.batch_size sentences, sort them by length into batches of at most max_batch_items padded words
    (spacy-transformers' own batch_by_length), so a speed-up over it is more than sorting. With `bf16`, in
    torch's CPU autocast to bf16."""
    from spacy_transformers.util import batch_by_length

    tokenizer, model, torch = load_hf(settings)
    model.eval()
    device = next(model.parameters()).device

    def forward(batch):
        encoded = tokenizer(list(batch), is_split_into_words=True, truncation=True, padding=True, return_tensors="pt")
        with torch.inference_mode(), autocast(torch, settings.gpu, bf16):
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

    if not sort_like_pipeline:
        return _timed(forward, list(_batches(settings.texts, settings.batch_size)), settings.gpu)
    buffer, max_batch_items = pipeline_batching(settings)

    def run(outer):
        tags = [None] * len(outer)
        for indices in batch_by_length(outer, max_batch_items):
            for i, sentence_tags in zip(indices, forward([outer[i] for i in indices])):
                tags[i] = sentence_tags
        return tags

    return _timed(run, list(_batches(settings.texts, buffer)), settings.gpu)


def _infer_hf_sorted(settings: Settings) -> float:
    return _infer_hf(settings, sort_like_pipeline=True)


def _infer_hf_bf16(settings: Settings) -> float:
    return _infer_hf(settings, sort_like_pipeline=True, bf16=True)


def autocast(torch, gpu: bool, cpu_bf16: bool):
    """fp16 autocast on a GPU (the notebook's fp16), bf16 autocast on a CPU where asked, else nothing."""
    if gpu:
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16)


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


def spacy_training_step(settings: Settings, precision: str = ""):
    """nlp.update with the config's optimizer and dropout (and training_precision: "auto" is bf16 autocast on
    CPUs with native bf16), and the batches it runs on; with `precision`, that training_precision."""
    from spacy.training import Example

    from scripts.corpus_reader import gold_example
    from scripts.ner_model.precision import TRAINING_PRECISION_KEY

    overrides = {TRAINING_PRECISION_KEY: precision} if precision else {}
    nlp, optimizer = load_spacy(
        Settings(**{**vars(settings), "spacy_overrides": {**settings.spacy_overrides, **overrides}}),
        settings.train_sentences,
    )
    examples = [gold_example(nlp.vocab, w, t) for w, t in settings.train_sentences]
    dropout = nlp.config["training"]["dropout"]
    NOTES["training_precision"] = nlp.get_pipe("transformer").model.layers[0].shims[0].resolved_training_precision()

    def run(batch: List[Example]):
        nlp.update(batch, sgd=optimizer, drop=dropout, losses={})

    return run, list(_batches(examples, settings.batch_size))


def hf_training_step(settings: Settings, bf16: bool = False):
    """One step of an HF-Trainer-style loop (with `bf16`, in CPU autocast to bf16), and the batches it runs on."""
    tokenizer, model, torch = load_hf(settings)
    model.train()
    device = next(model.parameters()).device
    label_ids = {label: i for i, label in enumerate(IOB_LABELS)}
    # The Trainer's defaults, with the config's learning rate and weight decay.
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n or "layer_norm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n or "layer_norm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-5
    )
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
        with autocast(torch, settings.gpu, bf16):
            loss = model(**inputs, labels=torch.tensor(labels, device=device)).loss
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return run, list(_batches(settings.train_sentences, settings.batch_size))


TRAINING_STEPS = {
    "spacy": spacy_training_step,
    "spacy-fp32": functools.partial(spacy_training_step, precision="fp32"),
    "spacy-bf16": functools.partial(spacy_training_step, precision="bf16"),
    "hf": hf_training_step,
    "hf-bf16": functools.partial(hf_training_step, bf16=True),
}


def why_not_measured(system: str, gpu: bool) -> str:
    """Why `system` is not measured on this machine ("" when it is)."""
    from scripts.ner_model.hardware import native_bf16
    from scripts.ner_model.runtimes import STATIC_INT8_REQUIREMENT, has_openvino

    if system in NATIVE_BF16_ONLY and (gpu or not native_bf16()):
        return (
            "a GPU run has its own fp16"
            if gpu
            else "no native bf16 on this CPU (neither avx512_bf16 nor amx_bf16): emulated, no baseline"
        )
    if system == "spacy-int8-static" and (gpu or not has_openvino()):
        return "a CPU precision" if gpu else f"OpenVINO not installed ({STATIC_INT8_REQUIREMENT})"
    return ""


def measure_ceiling(settings: Settings, shape: Shape, seconds: float) -> tuple:
    setup_process(settings)
    return gemm_rates(shape, settings.batch_size, settings.gpu, seconds)
