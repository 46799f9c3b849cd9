"""`python -m scripts.annotate MODEL INPUT OUTPUT`: the command line over scripts.annotate.run.annotate."""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from scripts import cli
from scripts.annotate.lines import BadLineError
from scripts.annotate.run import annotate
from scripts.answering.annotator import AnswerError
from scripts.answering.project_code import PROJECT_CODE
from scripts.gpu import check_device
from scripts.ner_model.precision import precision_overrides


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def main(
    model: str = typer.Argument(
        ..., help="Pipeline: an installed package's name or a folder (e.g. training/model-best)"
    ),
    input_path: str = typer.Argument(
        ..., metavar="INPUT", help='.txt (a text a line) or .jsonl ({"text": ...} a line); - for stdin'
    ),
    output_path: Path = typer.Argument(
        ..., metavar="OUTPUT", dir_okay=False, help=".jsonl: a line for every input line, in order"
    ),
    engine: str = typer.Option(
        "local", "--engine", "-e", help="local (this machine, --n-process processes) or ray (Ray Data actors)"
    ),
    batch_size: int = typer.Option(
        1024, "--batch-size", "-b", help="Input lines a chunk: what one process annotates at a time"
    ),
    n_process: int = typer.Option(1, "--n-process", "-n", help="Processes (local) or actors (ray) annotating at once"),
    gpu_id: int = typer.Option(
        -1, "--gpu-id", "-g", help="GPU to run on (local); with ray, any id >= 0: one GPU an actor; -1: the CPU"
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first bad line instead of writing an error line for it"
    ),
    resume: bool = typer.Option(False, "--resume", help="Keep OUTPUT's complete chunks and annotate the rest"),
    sentences: bool = typer.Option(False, "--sentences", help='Also write the sentences\' spans ("sents")'),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="An existing Ray cluster (e.g. ray://head:10001 or auto); default: a local Ray"
    ),
    input_format: Optional[str] = typer.Option(
        None, "--input-format", help="txt or jsonl; default: from INPUT's suffix"
    ),
    code: Optional[str] = typer.Option(
        None,
        "--code",
        help="Python file of functions the model's config names, imported (once a process) before loading it; "
        "default: scripts/custom_functions.py, as the module scripts.custom_functions; '' for none",
    ),
    precision: Optional[str] = typer.Option(
        None,
        "--precision",
        help="Transformer inference precision on a CPU: auto, fp32, bf16, int8 or int8-static; "
        "default: the model's config",
    ),
) -> None:
    try:
        config = precision_overrides(precision)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    if engine == "local" or not ray_address:
        check_device(gpu_id)
    try:
        summary = annotate(
            model,
            input_path,
            output_path,
            engine=engine,
            batch_size=batch_size,
            n_process=n_process,
            gpu_id=gpu_id,
            strict=strict,
            resume=resume,
            sentences=sentences,
            ray_address=ray_address,
            input_format=input_format,
            code=PROJECT_CODE if code is None else (Path(code) if code else None),
            config=config,
        )
    except BadLineError as err:
        msg.fail(str(err), f"--strict: stopped there; {output_path} holds the lines before it", exits=1)
    except AnswerError as err:  # annotate's AnnotateError included
        msg.fail(str(err), exits=1)
    seconds = max(summary.seconds, 1e-9)
    kept = f" after the {summary.skipped} kept from before" if summary.skipped else ""
    msg.good(
        f"Annotated {summary.lines} lines{kept} with {engine}: {output_path} "
        f"({rate(summary.lines / seconds)} texts/s, {rate(summary.words / seconds)} words/s)"
    )
    if summary.errors:
        msg.warn(
            f"{summary.errors} of {summary.lines} lines could not be annotated: "
            'they hold an "error" instead of "ents", e.g.:'
        )
        for error in summary.first_errors:
            print(f"  {error}")


if __name__ == "__main__":
    cli.run(main)
