"""`python -m scripts.benchmark.accuracy --data DIR --transformer DIR --epochs 3,20 --seeds 0,1,2`: how well
and how fast the project's training learns, against the reference notebook's recipe, on the same files
and encoder, on this machine, in one run.

- **notebook**: the HF `Trainer` as the notebook sets it up (AdamW, lr 2e-5, batches of 16 sentences,
  weight decay 0.01, a linear schedule without warm-up, the dev set scored each epoch), every
  sub-token labelled with its word's tag (`label_all_tokens = True`). On a CPU it trains in the
  training precision the project's own training resolves to here (bf16 autocast on CPUs with native
  bf16), where the notebook trains in fp16 on a GPU.
- **project**: `configs/distilbert_ner.cfg` through the train step's epochs (scripts/train.py), with
  `--project-overrides` on top (`section.key=value ...`).

Both read the corpus step's Docs of the CoNLL folder (Docs of 10 sentences, gold sentence starts); the
notebook's sentences are those Docs' sentences. Both are scored per word with seqeval, on dev after
every epoch (with the wall-clock seconds since training began) and on test at the end; the notebook's
own sub-token F1 is kept beside. One JSON (with the CPU's flags) and a plot of dev F1 against seconds.
Nothing else may run on the machine meanwhile: the seconds are the point.
"""

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import srsly
import typer
from wasabi import msg

from scripts import cli
from scripts.machine import cpu_info
from scripts.ner_model.hardware import auto_training_precision

CONFIG = Path("configs/distilbert_ner.cfg")
CODE = Path("scripts/custom_functions.py")
NOTEBOOK = {
    "learning_rate": 2e-5,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 16,
    "weight_decay": 0.01,
}
TIMED_LOGGER = "ner_distilbert.benchmark.TimedLogger.v1"


def docbin_sentences(docbin: Path) -> List[Tuple[List[str], List[str]]]:
    """Words and IOB2 tags of each gold sentence of the corpus step's DocBin, as crosscheck reads them."""
    from scripts.scoring import read_predictions, sentence_tags

    view = sentence_tags(read_predictions(docbin, docbin))
    return list(zip(view["words"], view["gold"]))


def word_f1(gold: List[List[str]], predicted: List[List[str]]) -> float:
    from scripts.scoring import seqeval_scores

    return seqeval_scores(gold, predicted)["f"]


def notebook_run(corpus: Path, transformer: str, epochs: int, seed: int, output: Path) -> dict:
    """The notebook's recipe; dev F1 per word and per sub-token after each epoch, test F1 at the end."""
    import numpy
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    splits = {name: docbin_sentences(corpus / f"{name}.spacy") for name in ("train", "dev", "test")}
    labels = sorted(
        {tag for words, tags in splits["train"] for tag in tags}, key=lambda tag: (tag != "O", tag[2:], tag)
    )
    label_ids = {tag: i for i, tag in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(transformer)
    if (
        getattr(tokenizer, "add_prefix_space", None) is False
    ):  # byte-level BPE (RoBERTa) splits words given apart only with it
        tokenizer = AutoTokenizer.from_pretrained(transformer, add_prefix_space=True)

    def encode(sentences):
        encoded = tokenizer([words for words, _ in sentences], truncation=True, is_split_into_words=True)
        word_ids = [encoded.word_ids(i) for i in range(len(sentences))]
        encoded["labels"] = [
            [-100 if w is None else label_ids[tags[w]] for w in ids] for ids, (_, tags) in zip(word_ids, sentences)
        ]
        return Dataset.from_dict(dict(encoded)), word_ids

    data = {name: encode(sentences) for name, sentences in splits.items()}

    def scores(name: str, logits) -> dict:
        """F1 per word (each word's first sub-token) and per labelled sub-token (the notebook's figure)."""
        predicted = numpy.argmax(logits, axis=-1)
        sentences, word_ids = splits[name], data[name][1]
        by_word = [
            [labels[predicted[i][j]] for j, w in enumerate(ids) if w is not None and (j == 0 or ids[j - 1] != w)]
            for i, ids in enumerate(word_ids)
        ]
        gold_pieces = [[tags[w] for w in ids if w is not None] for ids, (_, tags) in zip(word_ids, sentences)]
        by_piece = [
            [labels[predicted[i][j]] for j, w in enumerate(ids) if w is not None] for i, ids in enumerate(word_ids)
        ]
        return {
            "f1_words": word_f1([tags for _, tags in sentences], by_word),
            "f1_subtokens": word_f1(gold_pieces, by_piece),
        }

    dev_scores: List[dict] = []

    class Timing(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            dev_scores.append(
                {
                    "epoch": round(state.epoch),
                    "seconds": time.perf_counter() - self.start,
                    "f1_words": metrics["eval_f1_words"],
                    "f1_subtokens": metrics["eval_f1_subtokens"],
                }
            )

    torch.manual_seed(seed)
    model = AutoModelForTokenClassification.from_pretrained(
        transformer, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_ids
    )
    arguments = TrainingArguments(
        output_dir=str(output),
        eval_strategy="epoch",
        save_strategy="no",
        num_train_epochs=epochs,
        seed=seed,
        report_to=[],
        logging_strategy="no",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        bf16=auto_training_precision() == "bf16" and not torch.cuda.is_available(),
        fp16=torch.cuda.is_available(),
        **NOTEBOOK,
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=data["train"][0],
        eval_dataset=data["dev"][0],
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=lambda prediction: scores("dev", prediction.predictions),
        callbacks=[Timing()],
    )
    result = trainer.train()
    test = scores("test", trainer.predict(data["test"][0]).predictions)
    n_words = sum(len(words) for words, _ in splits["train"])
    return {
        "train_seconds": result.metrics["train_runtime"],
        "words_per_second": n_words * epochs / result.metrics["train_runtime"],
        "updates": result.global_step,
        "dev": dev_scores,
        "test": test,
    }


def timed_logger(progress_bar: Optional[str] = None, console_output: bool = True, output_file: Optional[str] = None):
    """spaCy's ConsoleLogger.v3 on the console; to `output_file`, each dev score with the seconds since
    training began."""
    from spacy.training.loggers import console_logger_v3

    console = console_logger_v3(progress_bar=progress_bar, console_output=console_output, output_file=None)

    def setup(nlp, stdout=sys.stdout, stderr=sys.stderr):
        log_step, finalize = console(nlp, stdout, stderr)
        start, records = time.perf_counter(), []

        def step(info):
            log_step(info)
            if info and info.get("score") is not None:
                records.append(
                    {
                        "epoch": info["epoch"],
                        "step": info["step"],
                        "seconds": time.perf_counter() - start,
                        "f1_words": info["other_scores"]["ents_f"],
                        "words": info["words"],
                    }
                )

        def done():
            finalize()
            srsly.write_json(output_file, records)

        return step, done

    return setup


def project_run(
    corpus: Path, transformer: str, epochs: int, seed: int, overrides: Dict[str, object], output: Path
) -> dict:
    """The project's training through the train step's epochs; dev F1 per epoch, test F1 of model-best at the end."""
    import spacy
    from spacy.cli.train import train

    from scripts.evaluate import evaluate
    from scripts.train import epoch_overrides

    if TIMED_LOGGER not in spacy.registry.loggers:
        spacy.registry.loggers.register(TIMED_LOGGER, func=timed_logger)
    given = {
        "paths.train": str(corpus / "train.spacy"),
        "paths.dev": str(corpus / "dev.spacy"),
        "paths.transformer": transformer,
        "system.seed": seed,
        "training.max_epochs": epochs,
        **overrides,
    }
    fitted = epoch_overrides(CONFIG, given, CODE)
    fitted.update(
        {"training.logger.@loggers": TIMED_LOGGER, "training.logger.output_file": str(output / "dev_scores.json")}
    )
    start = time.perf_counter()
    train(CONFIG, output, use_gpu=-1, overrides=fitted)
    dev = srsly.read_json(output / "dev_scores.json")
    train_seconds = dev[-1]["seconds"]
    msg.text(
        f"spaCy's train with loading and saving: {time.perf_counter() - start:.0f} s; its loop: {train_seconds:.0f} s"
    )
    scores, _ = evaluate(spacy.load(output / "model-best"), corpus / "test.spacy")
    return {
        "train_seconds": train_seconds,
        "words_per_second": dev[-1]["words"] / train_seconds,
        "updates": dev[-1]["step"] + 1,
        "dev": dev,  # "epoch": the epochs done when it was scored (spaCy's epoch index; 0 after the first step)
        "test": {"f1_words": scores["ents_f"]},
        "overrides": {key: value for key, value in fitted.items() if not key.startswith("paths.")},
    }


def plot(report: dict, path: Path) -> None:
    """Dev F1 per word against wall-clock seconds, a line per run, a panel per epoch budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = sorted({run["epochs"] for run in report["runs"]})
    figure, axes = plt.subplots(1, len(budgets), figsize=(6 * len(budgets), 4), squeeze=False)
    colours = {"notebook": "tab:orange", "project": "tab:blue"}
    for axis, epochs in zip(axes[0], budgets):
        for run in (r for r in report["runs"] if r["epochs"] == epochs):
            points = [(row["seconds"], row["f1_words"] * 100) for row in run["dev"]]
            axis.plot(
                *zip(*points),
                marker="o",
                color=colours[run["system"]],
                alpha=0.7,
                label=f"{run['system']} (seed {run['seed']}): test {run['test']['f1_words'] * 100:.1f}",
            )
        axis.set(
            title=f"{epochs} epochs", xlabel="wall-clock seconds of training", ylabel="dev F1 per word", ylim=(0, 100)
        )
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def summary(runs: List[dict]) -> Dict[str, dict]:
    rows = {}
    for key in sorted({(run["system"], run["epochs"]) for run in runs}):
        chosen = [run for run in runs if (run["system"], run["epochs"]) == key]
        f1 = [run["test"]["f1_words"] * 100 for run in chosen]
        rows[f"{key[0]}@{key[1]}"] = {
            "test_f1_mean": statistics.mean(f1),
            "test_f1_stdev": statistics.stdev(f1) if len(f1) > 1 else 0.0,
            "train_seconds_mean": statistics.mean(run["train_seconds"] for run in chosen),
            "seeds": [run["seed"] for run in chosen],
        }
    return rows


def main(
    data: Path = typer.Option(
        ...,
        exists=True,
        file_okay=False,
        help="A CoNLL folder (train, valid and test files), e.g. ../shared/data/wikigold",
    ),
    transformer: str = typer.Option(..., help="The encoder both train: a local HF model folder or a hub name"),
    epochs: str = typer.Option("3", help="Epoch budgets, comma-separated"),
    seeds: str = typer.Option("0,1,2", help="Seeds, comma-separated"),
    systems: str = typer.Option("notebook,project", help="Which to train, comma-separated"),
    project_overrides: str = typer.Option(
        "", help="Config overrides for the project's runs, as 'section.key=value ...'"
    ),
    output: Path = typer.Option(
        Path("metrics/accuracy.json"), "--output", "-o", help="The JSON; the plot goes beside it (.png)"
    ),
    keep: Optional[Path] = typer.Option(
        None, help="Keep each project run's model-best and corpus here (project-EPOCHS-SEED/, corpus/)"
    ),
) -> None:
    import torch
    from spacy.cli._util import parse_config_overrides

    from scripts.corpus import convert
    from scripts.train import override_args

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    overrides = parse_config_overrides(override_args(project_overrides))
    report = {
        "data": str(data),
        "transformer": transformer,
        "cpu": cpu_info(),
        "threads": torch.get_num_threads(),
        "training_precision": auto_training_precision(),
        "notebook": NOTEBOOK,
        "project_overrides": project_overrides,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        convert(corpus, 10, conll_dir=data)
        for budget in map(int, epochs.split(",")):
            for seed in map(int, seeds.split(",")):
                for system in systems.split(","):
                    folder = Path(tmp) / f"{system}-{budget}-{seed}"
                    msg.divider(f"{system}, {budget} epochs, seed {seed}")
                    run = (
                        notebook_run(corpus, transformer, budget, seed, folder)
                        if system == "notebook"
                        else project_run(corpus, transformer, budget, seed, overrides, folder)
                    )
                    report["runs"].append({"system": system, "epochs": budget, "seed": seed, **run})
                    if keep and system == "project":
                        shutil.copytree(folder / "model-best", keep / folder.name, dirs_exist_ok=True)
                        shutil.copytree(corpus, keep / "corpus", dirs_exist_ok=True)
                    msg.good(
                        f"{system}, {budget} epochs, seed {seed}: "
                        f"test F1 {run['test']['f1_words'] * 100:.2f} per word, "
                        f"{run['train_seconds']:.0f} s of training, {run['words_per_second']:.0f} words/s"
                    )
                    report["summary"] = summary(report["runs"])
                    output.parent.mkdir(parents=True, exist_ok=True)
                    srsly.write_json(
                        output, report
                    )  # after every run: a long benchmark stopped midway keeps what it did
    plot(report, output.with_suffix(".png"))
    for name, row in report["summary"].items():
        msg.text(
            f"{name}: test F1 {row['test_f1_mean']:.2f} ± {row['test_f1_stdev']:.2f}, {row['train_seconds_mean']:.0f} s"
        )
    msg.good(f"Saved {output} and {output.with_suffix('.png')}")


if __name__ == "__main__":
    cli.run(main)
