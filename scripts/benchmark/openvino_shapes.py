"""`python -m scripts.benchmark.openvino_shapes MODEL`: what OpenVINO pays for a batch shape it has not seen, on
a trained pipeline's int8-static copy: for each shape (rows, pieces), its first call against the same call
again, under each of a few OpenVINO settings. The last shape repeats the first, seen before. It is why the
pipeline's int8-static pays only on shapes seen before (docs/precision.md has the runs).

    python -m scripts.benchmark.openvino_shapes MODEL -o FILE.json

The copy is calibrated as benchmark.agreement calibrates one (--n-calibration, --seed).
"""

import time
from pathlib import Path
from typing import Optional

import numpy
import srsly
import torch
import typer
from wasabi import msg

from scripts import cli
from scripts.benchmark.inputs import pipeline_in
from scripts.machine import cpu_info
from scripts.ner_model.precision import transformer_shim
from scripts.ner_model.runtimes import import_openvino

SETTINGS = [
    {},
    {"INFERENCE_PRECISION_HINT": "f32"},
    {"SNIPPETS_MODE": "DISABLE"},
    {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 1},
    {"CPU_RUNTIME_CACHE_CAPACITY": 0},
]
SHAPES = [(40, 25), (41, 25), (40, 26), (20, 50), (21, 51), (10, 100), (60, 17), (33, 31), (40, 25)]


def first_and_again(model_bytes: bytes, setting: dict, vocab_size: int, threads: int) -> dict:
    """Milliseconds of each shape's first call and of the same call again, compiled with `setting`."""
    core = import_openvino().Core()
    compiled = core.compile_model(core.read_model(model_bytes), "CPU", {"INFERENCE_NUM_THREADS": threads, **setting})
    request = compiled.create_infer_request()
    names = [port.get_any_name() for port in compiled.inputs]
    rng = numpy.random.default_rng(0)
    first, again = [], []
    for rows, pieces in SHAPES:
        ids = rng.integers(0, vocab_size, (rows, pieces)).astype(numpy.int64)
        inputs = {"input_ids": ids, "attention_mask": numpy.ones_like(ids)}
        feed = {name: inputs.get(name, numpy.zeros_like(ids)) for name in names}
        for times in (first, again):
            start = time.perf_counter()
            request.infer(feed)
            times.append(1000 * (time.perf_counter() - start))
    new_shapes = len(SHAPES) - 1  # the last shape is the first again
    return {
        "openvino_config": setting,
        "first_call_ms": first,
        "same_call_again_ms": again,
        "mean_extra_ms_of_a_new_shape": (sum(first[:new_shapes]) - sum(again[:new_shapes])) / new_shapes,
        "mean_call_again_ms": sum(again) / len(again),
    }


def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="A trained pipeline folder"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Keep the JSON here"),
    n_calibration: int = typer.Option(512, help="Training sentences calibrated on"),
    threads: int = typer.Option(2, help="OpenVINO's and torch's threads"),
    seed: int = typer.Option(0, help="benchmark.agreement's seed, whose training sentences the copy calibrates on"),
) -> None:
    torch.set_num_threads(threads)
    nlp = pipeline_in(model, "int8-static", n_calibration, seed)
    model_bytes = transformer_shim(nlp).onnx_copy("int8-static")
    vocab_size = nlp.get_pipe("transformer").model.transformer.config.vocab_size
    runs = []
    for setting in SETTINGS:
        runs.append(first_and_again(model_bytes, setting, vocab_size, threads))
        msg.info(
            f"{setting}: a new shape +{runs[-1]['mean_extra_ms_of_a_new_shape']:.1f} ms, "
            f"a call {runs[-1]['mean_call_again_ms']:.1f} ms"
        )
    if output:
        report = {"what": __doc__.split("\n\n")[0], "shapes_rows_pieces": SHAPES, "runs": runs}
        machine = {"cpu": cpu_info(), "threads": threads}
        srsly.write_json(output, {**report, "static_copy_bytes": len(model_bytes), **machine})
        msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
