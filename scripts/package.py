"""`spacy package` with the meta filled from what the run measured, licence files beside the
model, and the build log kept out of sight unless the build fails.

`python -m scripts.package MODEL_DIR PACKAGES_DIR ...` stages a copy of the model (the run's own
output stays as training wrote it), writes meta.json, LICENSE, LICENSES_SOURCES and README.md there,
and runs spaCy's `package` on it in this process (a `python -m spacy package` would import the whole
stack again), which takes that README (with the per-type table) for the wheel's instead of writing its own.
The wheel carries the model's code, scripts/ner_model, as modules beside the package's __init__.py.
"""

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import spacy
import srsly
import typer
from wasabi import msg

import scripts.ner_model.architectures  # noqa: F401 -- registers what a trained pipeline's config names
from scripts import cli
from scripts.ner_model.precision import calibrate_int8_static, keep_int8_copy
from scripts.ner_model.runtimes import INT8_REQUIREMENTS

HF_URL = "https://huggingface.co/"
# The model's code the wheel carries: what its config names, and what it imports.
MODEL_CODE = tuple(
    sorted(path for path in (Path(__file__).parent / "ner_model").glob("*.py") if path.name != "__init__.py")
)


def source(name: str, default_url: str, license: str) -> dict:
    """A meta `sources` entry; local folders (the demo's) are named as they are, without a URL."""
    is_local = Path(name).exists()
    return {"name": name, "url": "" if is_local else default_url, "license": license}


def package_meta(
    test_scores: dict,
    crosscheck: dict,
    corpus_stats: dict,
    transformer: str,
    version: str,
    license: str,
    dataset_license: str,
    transformer_license: str,
    note: str = "",
) -> dict:
    dataset = corpus_stats["source"]
    # The corpus step lists the data's entity types (a stats.json without them: the types test was scored on).
    labels = corpus_stats.get("labels") or sorted(test_scores["ents_per_type"])
    per_type = ", ".join(f"{t} {v['f']:.3f}" for t, v in sorted(test_scores["ents_per_type"].items()))
    return {
        "version": version,
        "license": license,
        "description": (
            f"{note + ' ' if note else ''}"
            f"English NER: {Path(transformer).name} fine-tuned with spaCy "
            f"on {Path(dataset).name} ({', '.join(labels)}). "
            f"Test F {test_scores['ents_f']:.4f} "
            f"(P {test_scores['ents_p']:.4f}, R {test_scores['ents_r']:.4f}; {per_type}), "
            "scored with gold tokens and document context, "
            f"transformer in {test_scores.get('inference_precision', 'fp32')}; "
            f"seqeval agrees: {crosscheck['agree']}."
        ),
        "sources": [
            source(dataset, f"{HF_URL}datasets/{dataset}", dataset_license),
            source(transformer, f"{HF_URL}{transformer}", transformer_license),
        ],
        # The scores of the precision evaluate ran in, and fp32's beside them where that was another one.
        "performance": {
            **{
                key: test_scores[key]
                for key in ("ents_f", "ents_p", "ents_r", "ents_per_type", "inference_precision")
                if key in test_scores
            },
            **({"fp32": test_scores["fp32"]} if "fp32" in test_scores else {}),
        },
        # spacy package adds what the config names (spacy-transformers); the default "auto" precision runs
        # int8 in ONNX Runtime on AVX2 and AVX512-BF16 CPUs, so the model brings it along.
        "requirements": list(INT8_REQUIREMENTS),
    }


def licence_files(meta: dict) -> dict:
    """LICENSE and LICENSES_SOURCES, which spacy package puts in the wheel (and warns about when missing)."""
    sources = "\n\n".join(
        f"{s['name']}\n{s['url'] or '(local folder)'}\nLicence: {s['license']}" for s in meta["sources"]
    )
    return {
        "LICENSE": f"{meta['name']} {meta['version']} is released under the {meta['license']} licence.\n",
        "LICENSES_SOURCES": f"The model was made from these sources, under these terms:\n\n{sources}\n",
    }


def model_readme(meta: dict, crosscheck: Optional[dict] = None) -> str:
    """The wheel's README.md: spaCy's generated one lists overall scores only, not each entity type's."""
    name = meta["name"] if meta["name"].startswith(f"{meta['lang']}_") else f"{meta['lang']}_{meta['name']}"
    performance = meta["performance"]
    support = {t: v.get("support") for t, v in ((crosscheck or {}).get("seqeval") or {}).get("per_type", {}).items()}
    code = lambda items: ", ".join(f"`{item}`" for item in items)  # noqa: E731
    lines = [
        f"# {name} {meta['version']}",
        "",
        meta["description"],
        "",
        "| | |",
        "|---|---|",
        f"| Name | `{name}` |",
        f"| Version | `{meta['version']}` |",
        f"| spaCy | `{meta.get('spacy_version', '')}` |",
        f"| Pipeline | {code(meta.get('pipeline', []))} |",
        f"| Entity types | {code(meta.get('labels', {}).get('ner', []))} |",
        f"| License | `{meta['license']}` |",
        "",
        "## Accuracy on the test set",
        "",
        "Precision, recall and F in percent, scored by spaCy on gold tokens with document context"
        + (
            f"; seqeval, reading the same predictions as conlleval does, agrees: {crosscheck['agree']}."
            if crosscheck
            else "."
        ),
        "Support is the number of gold entities.",
        "",
        "| Type | P | R | F | Support |",
        "|---|---:|---:|---:|---:|",
    ]
    for entity_type, scores in sorted(performance["ents_per_type"].items()):
        lines.append(
            f"| {entity_type} | {scores['p'] * 100:.2f} | {scores['r'] * 100:.2f} | {scores['f'] * 100:.2f} | "
            f"{support.get(entity_type) or ''} |"
        )
    total = sum(v for v in support.values() if v) or ""
    lines.append(
        f"| **all** | **{performance['ents_p'] * 100:.2f}** | **{performance['ents_r'] * 100:.2f}** | "
        f"**{performance['ents_f'] * 100:.2f}** | {total} |"
    )
    lines += ["", "## Sources", ""]
    for source in meta["sources"]:
        named = f"[{source['name']}]({source['url']})" if source["url"] else f"{source['name']} (local folder)"
        lines.append(f"- {named}: {source['license']}")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "import spacy",
        "",
        f'nlp = spacy.load("{name}")',
        'doc = nlp("Anna Brandt of Northwind Bank spoke in Lisbon on Tuesday.")',
        "print([(ent.text, ent.label_) for ent in doc.ents])",
        "```",
        "",
        'On a CPU the transformer predicts in `inference_precision` "auto": int8 (ONNX Runtime, its copy inside',
        "this package) on AVX2 CPUs, on AVX-512 CPUs with AVX512-BF16 and VNNI and on Xeons with AMX, fp32",
        "elsewhere; a text gets the same entities alone, in any batch and from any thread.",
        "fp32's test scores are in meta.json (`performance.fp32`).",
        "For fp32 everywhere:",
        "",
        "```python",
        f'nlp = spacy.load("{name}", config={{"components.transformer.model.inference_precision": "fp32"}})',
        "```",
        "",
    ]
    return "\n".join(lines)


@contextmanager
def output_to(log: Path):
    """This process's stdout and stderr, and those of the processes it starts (spaCy runs `python -m build`),
    into `log`, at the file-descriptor level."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("w") as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def add_code(package_dir: Path, code: List[Path]) -> None:
    """What `spacy package --code` does with its files, for modules that import each other relatively: each
    copied beside the package's __init__.py, which imports them. spaCy's --code first imports each file
    alone, outside any package, where a relative import fails."""
    init = package_dir / "__init__.py"
    template_line = "from spacy.util import load_model_from_init_py, get_model_meta\n"
    text = init.read_text(encoding="utf8")
    if template_line not in text:
        raise ValueError(f"{init}: expected spaCy's package template, with the line {template_line.strip()!r}")
    for path in code:
        shutil.copy(path, package_dir)
    imports = "".join(f"from . import {path.stem}\n" for path in code)
    init.write_text(text.replace(template_line, template_line + imports), encoding="utf8")


def build_wheel(
    model_dir: Path,
    output_dir: Path,
    meta: dict,
    code: List[Path] = MODEL_CODE,
    readme: Optional[str] = None,
    calibration_corpus: Optional[Path] = None,
    calibration_docs: int = 0,
) -> Path:
    """Run spaCy's `package` on a staged copy of `model_dir`, with `code` in the package (add_code), with
    `readme` as its README.md (else spaCy writes one), and with an int8-static copy calibrated on the first
    `calibration_docs` Docs of the DocBin `calibration_corpus` where asked; return the wheel, or exit 1 with
    the build log."""
    from spacy.cli.package import package

    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / model_dir.name
        nlp = spacy.load(model_dir)
        if calibration_docs:
            docs = training_docs(calibration_corpus, calibration_docs, nlp.vocab)
            msg.text(f"Calibrating the int8-static copy on {len(docs)} Docs of {calibration_corpus} ...")
            calibrate_int8_static(nlp, docs)
        if (
            keep_int8_copy(nlp) or calibration_docs
        ):  # the first prediction in int8 then exports nothing and writes nothing
            nlp.to_disk(staged)
        else:
            shutil.copytree(model_dir, staged)
        srsly.write_json(staged / "meta.json", meta)
        files = {**licence_files(meta), **({"README.md": readme} if readme else {})}
        for name, text in files.items():
            (staged / name).write_text(text, encoding="utf8")
        log, exit_code = Path(tmp) / "build.log", 0
        name = f"{meta['lang']}_{meta['name']}"
        package_root = output_dir / f"{name}-{meta['version']}"
        with output_to(log):
            try:
                package(staged, output_dir, create_sdist=False, create_wheel=False, force=True, silent=False)
                add_code(package_root / name, list(code))
                # spacy package --build wheel's own command
                exit_code = subprocess.run([sys.executable, "-m", "build", ".", "--wheel"], cwd=package_root).returncode
            except SystemExit as stopped:  # spaCy's msg.fail(..., exits=1)
                exit_code = stopped.code
        build_log = log.read_text(encoding="utf8", errors="replace")
    name_v = f"{meta['lang']}_{meta['name']}-{meta['version']}"
    wheels = sorted((output_dir / name_v / "dist").glob(f"{name_v}-*.whl"))
    if exit_code or not wheels:
        print(build_log)
        msg.fail(f"spacy package failed (exit {exit_code}); its log is above", exits=1)
    return wheels[-1]


def training_docs(corpus: Optional[Path], n_docs: int, vocab) -> list:
    """The first `n_docs` Docs of the DocBin `corpus`, for calibrate_int8_static."""
    from spacy.tokens import DocBin

    if corpus is None:
        raise typer.BadParameter("--calibration-docs needs --calibration-corpus (the training DocBin)")
    docs = list(itertools.islice(DocBin().from_disk(corpus).get_docs(vocab), n_docs))
    if not docs:
        raise typer.BadParameter(f"{corpus}: no Docs to calibrate on")
    return docs


def main(
    model_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="The trained pipeline (training/model-best)"
    ),
    output_dir: Path = typer.Argument(..., help="Where the package folder and its dist/ go (packages)"),
    metrics_dir: Path = typer.Option(
        Path("metrics"), exists=True, file_okay=False, help="Folder with test.json and crosscheck.json"
    ),
    corpus_stats: Path = typer.Option(
        Path("corpus/stats.json"), exists=True, dir_okay=False, help="The corpus step's stats.json"
    ),
    name: str = typer.Option(..., help="Package name without the language prefix"),
    version: str = typer.Option(..., help="Package version"),
    transformer: str = typer.Option(..., help="The transformer the model was trained from"),
    license: str = typer.Option("MIT", help="Licence of the packaged model"),
    dataset_license: str = typer.Option(..., help="Licence of the training data, for meta's sources"),
    transformer_license: str = typer.Option(..., help="Licence of the transformer, for meta's sources"),
    note: str = typer.Option("", help="A sentence put first in the description (the demo says what it is)"),
    code: List[Path] = typer.Option(
        list(MODEL_CODE),
        "--code",
        exists=True,
        dir_okay=False,
        help="The modules the wheel carries (scripts/ner_model)",
    ),
    calibration_corpus: Optional[Path] = typer.Option(
        None, exists=True, dir_okay=False, help="The training DocBin, for --calibration-docs"
    ),
    calibration_docs: int = typer.Option(
        0, min=0, help="Calibrate an int8-static copy on the first N Docs of --calibration-corpus (0: none)"
    ),
) -> None:
    crosscheck = srsly.read_json(metrics_dir / "crosscheck.json")
    measured = package_meta(
        srsly.read_json(metrics_dir / "test.json"),
        crosscheck,
        srsly.read_json(corpus_stats),
        transformer,
        version,
        license,
        dataset_license,
        transformer_license,
        note,
    )
    meta = {**srsly.read_json(model_dir / "meta.json"), "name": name, **measured}
    wheel = build_wheel(
        model_dir, output_dir, meta, code, model_readme(meta, crosscheck), calibration_corpus, calibration_docs
    )
    msg.good(f"Built {wheel}", meta["description"])
    msg.text(f"Install it with: pip install {wheel}")


if __name__ == "__main__":
    cli.run(main)
