"""`spacy train`, with the GPU checked first and mixed precision following the device.

Mixed precision needs CUDA (thinc's grad scaler refuses a CPU), so it is on for a GPU and off for
the CPU unless the command line sets `--components.transformer.model.mixed_precision` itself.
"""
from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train
from spacy.util import load_config
from wasabi import msg

import custom_functions  # noqa: F401 -- registers the corpus reader the config names
from device import use_device

MIXED_PRECISION = "components.transformer.model.mixed_precision"
app = typer.Typer(add_completion=False)


def transformer_problem(name: str) -> Optional[str]:
    """Why the transformer's config cannot be had (a hub name offline, a folder that is no HF model), or None."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as err:
        return str(err)
    return None


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config"),
    output_path: Path = typer.Option(..., "--output", "-o", help="Where model-best and model-last go"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on; -1 for the CPU"),
) -> None:
    """Extra `--section.key value` options override the config, as with `spacy train`."""
    overrides = parse_config_overrides(ctx.args)
    overrides.setdefault(MIXED_PRECISION, gpu_id >= 0)
    use_device(gpu_id)
    name = load_config(config_path, overrides=overrides, interpolate=True)["components"]["transformer"]["model"]["name"]
    problem = transformer_problem(name)
    if problem:
        msg.fail(
            f"The transformer {name!r} cannot be loaded",
            f"{problem}\nTo go on: a hub name this machine can reach, or a local HF model folder (--vars.transformer PATH)",
            exits=1,
        )
    train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)


if __name__ == "__main__":
    app()
