"""meta.json for `spacy package`: what the model is, what it was trained on, and the test scores measured."""
import json
from pathlib import Path

import typer
from wasabi import msg

HF_URL = "https://huggingface.co/"


def source(name: str, default_url: str, license: str) -> dict:
    """A meta `sources` entry; local folders (the demo's) are named as they are, without a URL."""
    is_local = Path(name).exists()
    return {"name": name, "url": "" if is_local else default_url, "license": license}


def package_meta(
    test_scores: dict, crosscheck: dict, corpus_stats: dict, transformer: str, version: str, license: str, dataset_license: str, transformer_license: str
) -> dict:
    dataset = corpus_stats["source"]
    per_type = ", ".join(f"{t} {v['f']:.3f}" for t, v in sorted(test_scores["ents_per_type"].items()))
    return {
        "version": version,
        "license": license,
        "description": (
            f"English NER: {Path(transformer).name} fine-tuned with spaCy on {Path(dataset).name} (LOC, MISC, ORG, PER). "
            f"Test F {test_scores['ents_f']:.4f} (P {test_scores['ents_p']:.4f}, R {test_scores['ents_r']:.4f}; {per_type}), "
            f"scored with gold tokens and document context; seqeval agrees: {crosscheck['agree']}."
        ),
        "sources": [
            source(dataset, f"{HF_URL}datasets/{dataset}", dataset_license),
            source(transformer, f"{HF_URL}{transformer}", transformer_license),
        ],
        "performance": {key: test_scores[key] for key in ("ents_f", "ents_p", "ents_r", "ents_per_type")},
    }


def main(
    metrics_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder with test.json and crosscheck.json"),
    corpus_stats: Path = typer.Argument(..., exists=True, dir_okay=False, help="corpus/stats.json"),
    output: Path = typer.Argument(..., help="meta.json to write"),
    transformer: str = typer.Option(..., help="The transformer the model was trained from"),
    version: str = typer.Option(..., help="Package version"),
    license: str = typer.Option("MIT", help="Licence of the packaged model"),
    dataset_license: str = typer.Option(..., help="Licence of the training data, for meta's sources"),
    transformer_license: str = typer.Option(..., help="Licence of the transformer, for meta's sources"),
) -> None:
    read = lambda path: json.loads(path.read_text(encoding="utf8"))  # noqa: E731
    meta = package_meta(read(metrics_dir / "test.json"), read(metrics_dir / "crosscheck.json"), read(corpus_stats), transformer, version, license, dataset_license, transformer_license)
    output.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf8")
    msg.good(f"Wrote {output}", meta["description"])


if __name__ == "__main__":
    typer.run(main)
