"""How each step runs as a process: `python -m scripts.NAME` ends in `run(...)`."""
import atexit
import gc
from typing import Callable, Union

import typer


def run(cli: Union[typer.Typer, Callable]) -> None:
    """Run a step's typer CLI (an app, or a function as `typer.run` takes it) as a short-lived process.

    Most of a step's heap is the imported stack (spaCy, torch, transformers: about 420,000 objects), and
    every full collection walks it: during the imports (scripts/__init__.py turns the collector off for
    them: about 1.8 of 13 s of CPU on 2 cores), during the run, and at exit (2-3 s). Frozen, it is left out
    of every collection: once here, before the CLI runs, and again at exit for what the run made, which
    the OS then frees; the steps close what they write themselves (docs/tests.md).
    """
    gc.freeze()
    gc.enable()
    atexit.register(gc.freeze)  # registered first, so it runs after every other exit handler
    if isinstance(cli, typer.Typer):
        cli()
    else:
        typer.run(cli)
