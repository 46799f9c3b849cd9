"""`python -m scripts.benchmark.profile`: where a training step's time goes, spaCy's against the HF loop's.

The benchmark's own training steps as shipped, spaCy's and the HF loop's (`systems.TRAINING_STEPS`),
alternate in one process on the same batches, after two warm-up batches each, with timers around the
parts of a step: the encoder's forward (e.g. DistilBertModel.forward, which both run), the backward pass
(torch.autograd.backward), gradient clipping (the HF loop's clip_grad_norm_; spaCy's optimizer clips
inside) and the optimizer (thinc's Model.finish_update for spaCy, which runs TorchAdam; AdamW.step for
HF). The rest is everything else: spaCy's NER, alignment and tokenizer, HF's tokenizer and loss. It
prints seconds a batch.
"""

import contextlib
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, Optional

import srsly
import typer
from wasabi import msg

from scripts import cli
from scripts.benchmark.ceiling import Shape
from scripts.benchmark.inputs import DEFAULT_CONFIG, build_transformer, make_inputs
from scripts.benchmark.systems import TRAINING_STEPS, TRAINING_WARM_UP, Settings, setup_process
from scripts.machine import cpu_info

PROFILED = ("spacy", "hf")

PHASES = ("forward", "backward", "clip", "optimizer")


def encoder_class(model_dir: Path) -> type:
    """The class AutoModel builds for the transformer in `model_dir` (DistilBertModel, BertModel, ...): the
    encoder both systems run, spaCy's bare and the HF loop's inside its token-classification model."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    return MODEL_MAPPING[type(AutoConfig.from_pretrained(model_dir))]


@contextlib.contextmanager
def timed_phases(spent: Dict[str, float], encoder: type):
    """Within the block, each call of the functions that make a step adds its seconds to `spent[phase]`."""
    import thinc.model
    import torch

    targets = [
        (encoder, "forward", "forward"),
        (torch.autograd, "backward", "backward"),
        (torch.nn.utils, "clip_grad_norm_", "clip"),
        (torch.optim.AdamW, "step", "optimizer"),
        (thinc.model.Model, "finish_update", "optimizer"),
    ]
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]

    def timer(function, phase):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[phase] += time.perf_counter() - start

        return timed

    for owner, name, phase in targets:
        setattr(owner, name, timer(getattr(owner, name), phase))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def profile_training(settings: Settings, n_batches: int) -> Dict[str, Dict[str, float]]:
    setup_process(settings)
    steps = {system: TRAINING_STEPS[system](settings) for system in PROFILED}
    for run, batches in steps.values():
        for batch in batches[:TRAINING_WARM_UP]:
            run(batch)
    spent = {system: defaultdict(float) for system in steps}
    encoder = encoder_class(Path(settings.model_dir))
    for i in range(TRAINING_WARM_UP, TRAINING_WARM_UP + n_batches):
        for system, (run, batches) in steps.items():
            with timed_phases(spent[system], encoder):
                start = time.perf_counter()
                run(batches[i])
                spent[system]["total"] += time.perf_counter() - start
    per_batch = {}
    for system, phases in spent.items():
        per_batch[system] = {phase: phases[phase] / n_batches for phase in ("total",) + PHASES}
        per_batch[system]["rest"] = per_batch[system]["total"] - sum(per_batch[system][p] for p in PHASES)
    return per_batch


def main(
    model_dir: Optional[Path] = typer.Option(
        None,
        help="The transformer to time; without config.json a DistilBERT of distilbert-base-uncased's shape is built "
        "there",
    ),
    config: Path = typer.Option(DEFAULT_CONFIG, exists=True, dir_okay=False),
    n_batches: int = typer.Option(8, min=1, help="Timed batches a system, after the warm-up ones"),
    batch_size: int = typer.Option(32),
    threads: int = typer.Option(0, help="Torch threads; 0: all cores"),
    seed: int = typer.Option(0),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the figures and settings as JSON"),
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    threads = threads or os.cpu_count() or 1
    _, sentences = make_inputs(1, batch_size * (n_batches + TRAINING_WARM_UP), seed)
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None or not (model_dir / "config.json").exists():
            model_dir = build_transformer(Path(model_dir or Path(tmp) / "distilbert"), Shape(), seed)
        settings = Settings(str(model_dir), str(config), [], sentences, batch_size, threads, seed, False, {})
        per_batch = profile_training(settings, n_batches)
    header = ("seconds a batch", *per_batch)
    rows = [(phase, *(f"{per_batch[s][phase]:.3f}" for s in per_batch)) for phase in ("total",) + PHASES + ("rest",)]
    msg.table(rows, header=header, divider=True, aligns=("l",) + ("r",) * len(per_batch))
    ratio = per_batch["hf"]["total"] / per_batch["spacy"]["total"]
    msg.text(
        f"spacy is {ratio:.2f}x the HF loop here; {n_batches} batches of {batch_size}, {threads} threads, {cpu_info()}"
    )
    if output:
        settings_json = {"model_dir": str(model_dir), "config": str(config), "n_batches": n_batches}
        settings_json.update(batch_size=batch_size, threads=threads, seed=seed, cpu=cpu_info())
        srsly.write_json(output, {"settings": settings_json, "seconds_a_batch": per_batch})
        msg.good(f"Saved {output}")


if __name__ == "__main__":
    cli.run(main)
