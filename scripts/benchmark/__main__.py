"""The benchmark's CLI and the run that ties its parts together (see the package docstring)."""

import contextlib
import multiprocessing
import os
import platform
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Optional

import srsly
import typer
from wasabi import msg

from scripts import cli
from scripts.benchmark.ceiling import Shape, flops_per_sequence
from scripts.benchmark.inputs import DEFAULT_CONFIG, build_transformer, make_inputs, piece_lengths
from scripts.benchmark.report import check_targets, median_of_rounds, print_table, summarise
from scripts.benchmark.systems import SYSTEMS, Settings, call_in_child, measure, measure_ceiling, why_not_measured
from scripts.machine import cpu_info

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def in_child(function, *args):
    """Run `function(*args)` in a fresh process, so its memory peak is its own.

    Children fork from a server that has imported the heavy libraries once (and started no threads),
    which saves each measurement several seconds of imports."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["torch", "transformers", "spacy", "spacy_transformers", "scripts.benchmark.systems"]
    )
    with ProcessPoolExecutor(
        max_workers=1, mp_context=context
    ) as pool:  # a child that dies raises, where Pool.apply would hang
        ok, value = pool.submit(call_in_child, function, args).result()
    if not ok:
        raise RuntimeError(
            f"{function.__name__}{args[:2] if function is measure else ''} failed in its child process:\n{value}"
        )
    return value


def run_benchmark(
    output: Path,
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
    gemm_seconds: float = 2.0,
    rounds: int = 1,
) -> dict:
    threads = threads or os.cpu_count() or 1
    with children_threads(threads):
        return _run_benchmark(
            output,
            n_sentences,
            n_train_sentences,
            batch_size,
            threads,
            seed,
            gpu,
            model_dir,
            config,
            spacy_overrides,
            pipe_buffer,
            gemm_seconds,
            rounds,
        )


@contextlib.contextmanager
def children_threads(threads: int):
    """OMP_NUM_THREADS and MKL_NUM_THREADS for the measuring children (they inherit them), put back afterwards:
    the caller (a test session, a notebook) keeps its own."""
    saved = {variable: os.environ.get(variable) for variable in THREAD_VARIABLES}
    os.environ.update({variable: str(threads) for variable in THREAD_VARIABLES})
    try:
        yield
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def _run_benchmark(
    output,
    n_sentences,
    n_train_sentences,
    batch_size,
    threads,
    seed,
    gpu,
    model_dir,
    config,
    spacy_overrides,
    pipe_buffer,
    gemm_seconds,
    rounds,
) -> dict:
    if gpu:
        from scripts.gpu import use_device

        use_device(0)  # exits with advice when there is no usable GPU
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None or not (model_dir / "config.json").exists():
            model_dir = Path(model_dir or Path(tmp) / "distilbert")
            msg.info(f"Building a random DistilBERT with distilbert-base-uncased's shape in {model_dir}")
            build_transformer(model_dir, Shape(), seed)
        shape = Shape.of_model(model_dir)
        texts, train_sentences = make_inputs(n_sentences, n_train_sentences, seed)
        settings = Settings(
            str(model_dir),
            str(config),
            texts,
            train_sentences,
            batch_size,
            threads,
            seed,
            gpu,
            dict(spacy_overrides or {}),
        )
        if pipe_buffer:
            settings.spacy_overrides["nlp.batch_size"] = pipe_buffer
        lengths = piece_lengths(settings.model_dir, texts)
        train_lengths = piece_lengths(settings.model_dir, [w for w, _ in train_sentences])
        n_words, n_train_words = sum(map(len, texts)), sum(len(w) for w, _ in train_sentences)
        forward_per_word = sum(flops_per_sequence(n, shape) for n in lengths) / n_words
        train_per_word = 3 * sum(flops_per_sequence(n, shape) for n in train_lengths) / n_train_words
        msg.info(
            f"{len(texts)} sentences ({n_words} words) for inference, {len(train_sentences)} ({n_train_words} words) "
            f"for training; batch {batch_size}, {threads} threads"
        )
        msg.text("Measuring GEMM FLOP/s ...")
        gemm, skipped = in_child(measure_ceiling, settings, shape, gemm_seconds)
        best = max(gemm.values())
        training_dtype = max((dtype for dtype in gemm if dtype != "int8"), key=gemm.get)  # training runs in floats
        ceiling = {
            "gemm_flops_per_s": gemm,
            "gemm_skipped": skipped,
            "best_dtype": max(gemm, key=gemm.get),
            "forward_flops_per_word": forward_per_word,
            "training_flops_per_word": train_per_word,
            "pieces_per_word": (sum(lengths) - 2 * len(lengths)) / n_words,
            "inference_words_per_s": best / forward_per_word,
            "training_dtype": training_dtype,
            "training_words_per_s": gemm[training_dtype] / train_per_word,
            "formula": flops_per_sequence.__doc__.strip(),
        }
        msg.text(
            ", ".join(f"{k}: {v / 1e9:.0f} GFLOP/s" for k, v in gemm.items())
            + f"; {forward_per_word / 1e6:.1f} MFLOP/word forward"
        )
        for dtype, why in skipped.items():
            msg.warn(f"{dtype} GEMM skipped: {why}")
        results = []
        not_measured = {
            f"{task}:{system}": why_not_measured(system, gpu)
            for task, systems in SYSTEMS.items()
            for system in systems
            if why_not_measured(system, gpu)
        }
        for name, why in not_measured.items():
            msg.warn(f"{name} not measured: {why}")
        for round_number in range(1, rounds + 1):
            for task, systems in SYSTEMS.items():
                for system in (name for name in systems if f"{task}:{name}" not in not_measured):
                    msg.text(
                        f"Measuring {task} of {system}"
                        f"{f' (round {round_number} of {rounds})' if rounds > 1 else ''} ..."
                    )
                    result = in_child(measure, task, system, settings)
                    msg.text(f"  {result['words'] / result['seconds']:.0f} words/s, peak {result['peak_mib']:.0f} MiB")
                    results.append(result)
    rows = summarise(median_of_rounds(results), ceiling)
    targets = check_targets(rows)
    import spacy
    import torch
    import transformers

    report = {
        "settings": {
            "shape": asdict(shape),
            "pipe_buffer": pipe_buffer or None,
            "n_sentences": len(texts),
            "n_words": n_words,
            "n_train_sentences": len(train_sentences),
            "n_train_words": n_train_words,
            "batch_size": batch_size,
            "rounds": rounds,
            "threads": threads,
            "seed": seed,
            "device": "cuda" if gpu else "cpu",
            "spacy_overrides": settings.spacy_overrides,
            "machine": platform.machine(),
            "cpu": cpu_info(),
            "torch_threads": threads,
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "spacy": spacy.__version__,
            },
        },
        "ceiling": ceiling,
        "results": rows,
        "not_measured": not_measured,
        "targets": targets,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    print_table(rows, ceiling, targets)
    msg.good(f"Saved {output}")
    return report


def main(
    output: Path = typer.Option(Path("metrics/benchmark.json"), "--output", "-o", help="JSON report"),
    n_sentences: int = typer.Option(1200, help="Sentences for inference"),
    n_train_sentences: int = typer.Option(384, help="Sentences for training"),
    batch_size: int = typer.Option(32, help="Sentences per batch, for every system"),
    threads: int = typer.Option(0, help="Torch threads; 0: all cores"),
    seed: int = typer.Option(0, help="Seed for the text and the weights"),
    gpu: bool = typer.Option(False, "--gpu", help="Run on CUDA GPU 0 with mixed precision"),
    model_dir: Optional[Path] = typer.Option(
        None,
        help="The DistilBERT to time (its shape decides the speed, not its weights). Without config.json a random one "
        "with distilbert-base-uncased's shape is built there (default: a temp folder); "
        "other shapes: python -m scripts.make_transformer",
    ),
    config: Path = typer.Option(DEFAULT_CONFIG, exists=True, dir_okay=False, help="spaCy pipeline config"),
    pipe_buffer: int = typer.Option(
        0, help="Docs nlp.pipe buffers and the transformer sorts by length (nlp.batch_size); 0: the config's"
    ),
    gemm_seconds: float = typer.Option(2.0, help="Time budget of the GEMM probe"),
    rounds: int = typer.Option(
        1,
        min=1,
        help="Times each system is measured, all systems once a round; the table shows each one's median round",
    ),
    max_batch_items: int = typer.Option(
        0,
        help="Padded words a forward batch (components.transformer.max_batch_items, also hf-sorted's); 0: the config's",
    ),
) -> None:
    """Inference and training words/s of our pipeline, plain HF and the hardware's ceiling."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    overrides = {"components.transformer.max_batch_items": max_batch_items} if max_batch_items else None
    run_benchmark(
        output,
        n_sentences,
        n_train_sentences,
        batch_size,
        threads,
        seed,
        gpu,
        model_dir,
        config,
        overrides,
        pipe_buffer=pipe_buffer,
        gemm_seconds=gemm_seconds,
        rounds=rounds,
    )


if __name__ == "__main__":
    cli.run(main)
