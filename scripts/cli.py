"""How each step runs as a process: `python -m scripts.NAME` ends in `run(...)`."""
import atexit
import gc
from typing import Callable, Union

import typer


def run(cli: Union[typer.Typer, Callable]) -> None:
    """Run a step's typer CLI (an app, or a function as `typer.run` takes it) as a short-lived process.

    At exit CPython's last garbage collections walk the whole heap, which is mostly the imported stack
    (spaCy, torch, transformers: about 420,000 objects), 2-3 s a process on 2 cores. Frozen at exit, that
    heap is left to the OS instead; the steps close what they write themselves (docs/tests.md).
    """
    atexit.register(gc.freeze)  # registered first, so it runs after every other exit handler
    if isinstance(cli, typer.Typer):
        cli()
    else:
        typer.run(cli)
