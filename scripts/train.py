"""`spacy train`, with the GPU checked first and mixed precision following the device.

Mixed precision needs CUDA (thinc's grad scaler refuses a CPU), so it is on for a GPU and off for
the CPU unless the command line sets `--components.transformer.model.mixed_precision` itself.
"""
from pathlib import Path

import typer
from spacy.cli._util import parse_config_overrides
from spacy.cli.train import train

import gold_corpus  # noqa: F401 -- registers the corpus reader the config names
from device import use_device

MIXED_PRECISION = "components.transformer.model.mixed_precision"
app = typer.Typer(add_completion=False)


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
    train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)


if __name__ == "__main__":
    app()
