"""`python -m scripts.benchmark.forward`: the transformer alone, in each precision, against the ceiling.

The benchmark's `of ceiling` column divides a whole pipeline's words/s (tokenizer, transformer,
alignment, NER) by the fastest GEMM's. This times only what the pipeline's transformer runs, the very
inference copies `scripts/ner_model/runners.py` builds (fp32 twin, bf16 copy, ONNX Runtime int8 copy, OpenVINO
int8-static copy, calibrated here on the timed batches themselves), on the length-sorted batches the
pipeline makes, and lists the operators the time goes to (torch's profiler; ONNX Runtime's for int8;
none for int8-static). So it says how much of the ceiling any pipeline on these kernels could
reach at most, and which operators hold the rest. Prints a table; `--output` keeps the JSON.
"""

import collections
import os
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer
from wasabi import msg

from scripts import cli
from scripts.benchmark.ceiling import Shape, flops_per_sequence, gemm_rates
from scripts.benchmark.inputs import DEFAULT_CONFIG, build_transformer, make_inputs, piece_lengths
from scripts.benchmark.systems import Settings, pipeline_batching, setup_process
from scripts.machine import cpu_info

TOP_OPERATORS = 8


def sorted_batches(settings: Settings) -> List[Dict[str, object]]:
    """The texts encoded as the pipeline's forward batches: buffers of nlp.batch_size, each sorted by length into
    batches of at most max_batch_items padded words (spacy-transformers' batch_by_length)."""
    from spacy_transformers.util import batch_by_length
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(settings.model_dir, use_fast=True)
    buffer, max_batch_items = pipeline_batching(settings)
    batches = []
    for start in range(0, len(settings.texts), buffer):
        outer = settings.texts[start : start + buffer]
        for indices in batch_by_length(outer, max_batch_items):
            encoded = tokenizer(
                [outer[i] for i in indices],
                is_split_into_words=True,
                truncation=True,
                padding=True,
                return_tensors="pt",
            )
            batches.append(dict(encoded))
    return batches


def runner(precision: str, module, batches: List[Dict[str, object]], profile_dir: str):
    """The pipeline's inference copy of `module` in `precision`, and for int8 its ONNX Runtime session,
    which profiles itself."""
    from scripts.ner_model.exports import int8_model_bytes, static_int8_model_bytes
    from scripts.ner_model.runners import bf16_runner, fp32_runner, onnx_int8_session, openvino_runner

    if precision == "fp32":
        return fp32_runner(module, mixed_precision=False), None
    if precision == "bf16":
        return bf16_runner(module), None
    if precision == "int8-static":
        calibration = [{name: value.numpy() for name, value in batch.items()} for batch in batches]
        return openvino_runner(static_int8_model_bytes(module, calibration)), None
    session = onnx_int8_session(int8_model_bytes(module, batches[0]), os.path.join(profile_dir, "int8"))
    names = [graph_input.name for graph_input in session.get_inputs()]
    return (lambda kwargs: session.run(None, {name: kwargs[name].numpy() for name in names})), session


def time_precision(precision: str, module, batches: list, profile_dir: str) -> dict:
    """Seconds for all batches (after one untimed pass), then one profiled pass: each operator's share."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    run, session = runner(precision, module, batches, profile_dir)
    for batch in batches:
        run(batch)
    start = time.perf_counter()
    for batch in batches:
        run(batch)
    seconds = time.perf_counter() - start
    spent: Dict[str, float] = collections.Counter()
    if precision == "int8-static":
        pass  # OpenVINO's own kernels: torch's profiler sees none of them
    elif session is None:
        with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], acc_events=True) as profiler:
            for batch in batches:
                run(batch)
        for event in profiler.key_averages():
            spent[event.key] += event.self_cpu_time_total
    else:  # ONNX Runtime's own profile: its kernels' times, over the untimed and timed passes
        for event in srsly.read_json(session.end_profiling()):
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                spent[event["args"]["op_name"]] += event["dur"]
    total = sum(spent.values()) or 1.0
    return {"seconds": seconds, "operators": {name: share / total for name, share in spent.most_common(TOP_OPERATORS)}}


def profile_forward(settings: Settings, precisions: List[str], gemm_seconds: float) -> dict:
    setup_process(settings)
    from transformers import AutoModel

    from scripts.ner_model.hardware import native_bf16

    shape = Shape.of_model(Path(settings.model_dir))
    lengths = piece_lengths(settings.model_dir, settings.texts)
    n_words = sum(map(len, settings.texts))
    forward_per_word = sum(flops_per_sequence(n, shape) for n in lengths) / n_words
    gemm, skipped = gemm_rates(shape, settings.batch_size, False, gemm_seconds)
    ceiling = max(gemm.values()) / forward_per_word
    module = AutoModel.from_pretrained(settings.model_dir)
    batches = sorted_batches(settings)
    results = {}
    with tempfile.TemporaryDirectory() as profile_dir:
        for precision in precisions:
            if precision == "bf16" and not native_bf16():
                skipped[f"forward:{precision}"] = "no native bf16 on this CPU: emulated"
                continue
            timed = time_precision(precision, module, batches, profile_dir)
            rate = n_words / timed["seconds"]
            results[precision] = {"words_per_s": rate, "fraction_of_ceiling": rate / ceiling, **timed}
    return {
        "settings": {
            "n_sentences": len(settings.texts),
            "n_words": n_words,
            "n_batches": len(batches),
            "threads": settings.threads,
        },
        "ceiling": {
            "gemm_flops_per_s": gemm,
            "best_dtype": max(gemm, key=gemm.get),
            "inference_words_per_s": ceiling,
            "forward_flops_per_word": forward_per_word,
        },
        "skipped": skipped,
        "results": results,
        "cpu": cpu_info(),
    }


def main(
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Keep the JSON here"),
    model_dir: Optional[Path] = typer.Option(
        None, help="The DistilBERT to time; without config.json one with distilbert-base-uncased's shape is built there"
    ),
    config: Path = typer.Option(DEFAULT_CONFIG, exists=True, dir_okay=False),
    precisions: str = typer.Option(
        "fp32,int8,bf16",
        help="Comma-separated (fp32, int8, int8-static, bf16); bf16 only where the CPU has native bf16",
    ),
    n_sentences: int = typer.Option(1200),
    threads: int = typer.Option(0, help="Torch threads; 0: all cores"),
    seed: int = typer.Option(0),
    gemm_seconds: float = typer.Option(2.0, help="Time budget of the GEMM probe"),
) -> None:
    """Words/s of the transformer alone per precision, its share of the ceiling, and its top operators."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault(
        "KINETO_LOG_LEVEL", "5"
    )  # torch's CUDA build logs an ERROR line for a missing GPU when profiling a CPU
    threads = threads or os.cpu_count() or 1
    texts, _ = make_inputs(n_sentences, 0, seed)
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None or not (model_dir / "config.json").exists():
            model_dir = build_transformer(Path(model_dir or Path(tmp) / "distilbert"), Shape(), seed)
        settings = Settings(str(model_dir), str(config), texts, [], 32, threads, seed, False, {})
        report = profile_forward(settings, precisions.split(","), gemm_seconds)
    ceiling = report["ceiling"]
    rows = [
        (
            precision,
            f"{r['words_per_s']:.0f}",
            f"{r['fraction_of_ceiling']:.1%}",
            ", ".join(f"{name} {share:.0%}" for name, share in list(r["operators"].items())[:5]),
        )
        for precision, r in report["results"].items()
    ]
    msg.table(
        rows,
        header=("precision", "words/s", "of ceiling", "top operators (share of the profiled time)"),
        divider=True,
        aligns=("l", "r", "r", "l"),
    )
    msg.text(
        f"ceiling {ceiling['inference_words_per_s']:.0f} words/s ({ceiling['best_dtype']} GEMM); {threads} threads; "
        f"{report['cpu']}"
    )
    for name, why in report["skipped"].items():
        msg.warn(f"{name} skipped: {why}")
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, report)
        msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
