"""How each step runs as a process: `python -m scripts.NAME` ends in `run(...)`."""

import atexit
import gc
from typing import Callable, Union

import typer


def run(cli: Union[typer.Typer, Callable]) -> None:
    """Run a step's typer CLI (an app, or a function as `typer.run` takes it) as a short-lived process.

    Most of a step's heap is the imported stack (spaCy, torch, transformers), and every full collection
    walks it: during the imports (scripts/__init__.py turns the collector off for them), during the run,
    and at exit, each costing seconds (docs/tests.md#where-the-time-goes). Frozen, it is left out of every
    collection: once here, before the CLI runs, and again at exit for what the run made, which the OS then
    frees; the steps close what they write themselves.
    """
    gc.freeze()
    gc.enable()
    atexit.register(gc.freeze)  # registered first, so it runs after every other exit handler
    if isinstance(cli, typer.Typer):
        cli()
    else:
        typer.run(cli)
