"""Check the GPU and the transformer, then run spaCy's own `python -m spacy train`, in this process
(a second one would import the whole stack again: docs/tests.md#where-the-time-goes).

The checks turn what would be a traceback minutes in (no CUDA, an unreachable hub) into advice up
front. Mixed precision is off in the config, since thinc's grad scaler refuses a CPU; for a GPU run
this turns it on, unless the arguments set it themselves. Every other argument goes to spacy train
as it is, and the command is printed, so any run can be repeated with plain spaCy.

Training is measured in epochs (`training.max_epochs`): the batches of one epoch are counted from the
corpus as the config's reader and batcher make them, and the run is set to that many steps times the
epochs, with the learn rate annealed to zero at the last of them and the dev set scored after every
epoch, the last included (`epoch_overrides`). A `training.max_steps` given as an override wins.
"""

import random
import shlex
import sys
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer
from spacy.cli._util import parse_config_overrides
from spacy.util import load_config
from wasabi import msg

from scripts import cli
from scripts.gpu import check_device
from scripts.hub import OFFLINE_ADVICE, go_offline_if_unreachable

MIXED_PRECISION = "--components.transformer.model.mixed_precision"
app = typer.Typer(add_completion=False)


def transformer_problem(name: str) -> Optional[str]:
    """Why the transformer's config cannot be had (hub out of reach and not cached, a folder that is
    no HF model), or None."""
    hub = None if Path(name).is_dir() else go_offline_if_unreachable()
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as err:
        return f"{err}\nThe hub: {hub}" if hub else str(err)
    return None


def override_args(overrides: str) -> List[str]:
    """`section.key=value` items (project.yml's train_overrides) as spacy train's `--section.key value`.

    The var holds them without leading dashes because weasel reads a `--vars` value that starts
    with `--` as the next option.
    """
    args = []
    for item in shlex.split(overrides):
        key, equals, value = item.partition("=")
        if not equals or "." not in key:
            raise typer.BadParameter(
                f"{item!r}: expected section.key=value, e.g. training.max_steps=1000", param_hint="--overrides"
            )
        args += [f"--{key.lstrip('-')}", value]
    return args


def batches_per_epoch(config_path: Path, overrides: Dict[str, object], code: Path) -> int:
    """The batches one epoch of the training corpus makes, counted as spacy train makes them: the config's
    reader over the corpus, shuffled with the config's seed, through the config's batcher. With more Docs
    than the batcher's buffer, another shuffle may make a batch or two more or fewer."""
    import spacy
    from spacy.util import dot_to_object, import_file, registry

    import_file("custom_functions", code)  # the reader and schedule the config names
    config = load_config(config_path, overrides=overrides, interpolate=True)
    resolved = registry.resolve(
        {"corpus": dot_to_object(config, config["training"]["train_corpus"]), "batcher": config["training"]["batcher"]}
    )
    examples = list(resolved["corpus"](spacy.blank(config["nlp"]["lang"])))
    random.Random(config["training"]["seed"]).shuffle(examples)
    return sum(1 for _ in resolved["batcher"](examples))


def epoch_overrides(config_path: Path, overrides: Dict[str, object], code: Path) -> Dict[str, object]:
    """The overrides that make a run `training.max_epochs` epochs long with the schedule annealed at its end.

    spacy train scores dev at steps 0, F, 2F... and stops once it has done step `max_steps`. With E epochs of
    N batches, F = N and max_steps = total_steps = N * E, the last step is N * E, a step at learn rate 0 (the
    schedule's end) and scored: model-best can be the model of the last epoch, as the schedule intends. A
    max_steps of the overrides decides alone (no epoch limit), with the config's evaluation; total_steps follows it."""
    config = load_config(config_path, overrides=overrides)
    training = config["training"]
    if "training.max_steps" in overrides:
        return {
            "training.max_epochs": 0,
            "training.optimizer.learn_rate.total_steps": training["max_steps"],
            **overrides,
        }
    epochs = training["max_epochs"]
    if epochs < 1:
        raise typer.BadParameter(
            f"{config_path}: training.max_epochs is {epochs}: "
            "expected the epochs to train (>= 1), or a training.max_steps override"
        )
    n_batches = batches_per_epoch(config_path, overrides, code)
    if n_batches < 1:
        raise typer.BadParameter(
            f"{config_path}: the batcher makes no batch of {training['train_corpus']} ({config['paths']['train']})"
        )
    msg.info(
        f"{n_batches} batches an epoch, {epochs} epochs: {n_batches * epochs} steps, "
        "the learn rate annealed to 0 at the last"
    )
    steps = {
        "training.max_epochs": epochs + 1,
        "training.max_steps": n_batches * epochs,
        "training.optimizer.learn_rate.total_steps": n_batches * epochs,
    }
    return {
        "training.eval_frequency": n_batches,
        "training.patience": 0,
        **overrides,
        **steps,
    }  # an eval_frequency given wins


def spacy_train_command(
    config_path: Path,
    output_path: Path,
    gpu_id: int,
    transformer: str,
    code: Path,
    log: Optional[Path],
    overrides: List[str],
) -> List[str]:
    command = [
        sys.executable,
        "-m",
        "spacy",
        "train",
        str(config_path),
        "--output",
        str(output_path),
        "--gpu-id",
        str(gpu_id),
    ]
    command += ["--code", str(code), "--paths.transformer", transformer]
    command += ["--paths.train_log", str(log)] if log else []
    command += overrides
    if gpu_id >= 0 and not any(arg.split("=")[0] == MIXED_PRECISION for arg in overrides):
        command += [MIXED_PRECISION, "true"]
    return command


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config"),
    output_path: Path = typer.Option(..., "--output", "-o", help="Where model-best and model-last go"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on; -1 for the CPU"),
    transformer: str = typer.Option(
        "", "--transformer", help="HF hub name or local model folder (default: the config's paths.transformer)"
    ),
    code: Path = typer.Option(
        Path("scripts/custom_functions.py"),
        "--code",
        exists=True,
        dir_okay=False,
        help="The functions the config names",
    ),
    log: Optional[Path] = typer.Option(
        None, "--log", help="Training log as JSON lines (paths.train_log); an old one is replaced"
    ),
    overrides: str = typer.Option(
        "", "--overrides", help="Config overrides as 'section.key=value ...' (project.yml's train_overrides)"
    ),
) -> None:
    """Further `--section.key value` options override the config, as with spacy train."""
    check_device(gpu_id)
    transformer = transformer or load_config(config_path)["paths"]["transformer"]
    problem = transformer_problem(transformer)
    if problem:
        msg.fail(
            f"The transformer {transformer!r} cannot be loaded",
            f"{problem}\nTo go on: a hub name this machine can reach, "
            f"or a local HF model folder (--vars.transformer PATH). {OFFLINE_ADVICE}",
            exits=1,
        )
    if log and log.exists():
        log.unlink()  # spaCy's logger writes nothing when the file exists
    given = override_args(overrides) + ctx.args
    try:
        fitted = epoch_overrides(config_path, parse_config_overrides(given), code)
    except FileNotFoundError as missing:  # the corpus the epochs are counted on
        msg.fail(str(missing), exits=1)
    args = [
        arg
        for key, value in fitted.items()
        for arg in (f"--{key}", value if isinstance(value, str) else srsly.json_dumps(value))
    ]
    command = spacy_train_command(config_path, output_path, gpu_id, transformer, code, log, args)
    msg.info(f"Running: {shlex.join(['python', *command[1:]])}")
    run_spacy_cli(command[3:])


def run_spacy_cli(args: List[str]) -> None:
    """What `python -m spacy ARGS` runs, in this process; exits with its exit code."""
    import spacy.cli

    typer.main.get_command(spacy.cli.app)(args=args, prog_name="python -m spacy")


if __name__ == "__main__":
    cli.run(app)
