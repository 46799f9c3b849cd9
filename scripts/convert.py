"""CoNLL-2003 (a folder of CoNLL files, or a Hugging Face dataset) to spaCy DocBins with document context."""
import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import spacy
import typer
from spacy.tokens import DocBin
from tqdm import tqdm
from wasabi import msg

from conll import DOCSTART, ConllError, ConllSplit, Document, Sentence, entity_counts, read_conll_file, read_tags, sentences_to_docs

SPLITS = ("train", "dev", "test")
# Original CoNLL-2003 names (IOB1) first, then the IOB2 names most copies use.
FILE_NAMES = {"train": ("eng.train", "train.txt"), "dev": ("eng.testa", "valid.txt"), "test": ("eng.testb", "test.txt")}
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
# The reference notebook's label list: the id order of CoNLL-2003 datasets on the hub.
HF_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def find_split_file(conll_dir: Path, split: str, name: Optional[str] = None) -> Path:
    names = (name,) if name else FILE_NAMES[split]
    found = [conll_dir / n for n in names if (conll_dir / n).is_file()]
    if not found:
        raise ConllError(str(conll_dir), f"missing {split} split: expected a file named {' or '.join(names)}")
    if len(found) > 1:
        raise ConllError(str(conll_dir), f"both {found[0].name} and {found[1].name} found for the {split} split: name one with --{split}-file")
    return found[0]


def read_hf_split(rows: Iterable[dict], labels: Sequence[str], where: str) -> ConllSplit:
    """Documents from dataset rows (`tokens`, integer `ner_tags`).

    Rows that are just `-DOCSTART-` (some copies of CoNLL-2003 keep them) start a document;
    without them the split is one stream of sentences, grouped in order.
    """
    documents: List[Document] = [[]]
    markers = 0
    for number, row in enumerate(rows):
        place = f"{where}, row {number}"
        tokens, tag_ids = row["tokens"], row["ner_tags"]
        if len(tokens) != len(tag_ids):
            raise ConllError(place, f"{len(tokens)} tokens but {len(tag_ids)} ner_tags: expected one tag per token")
        if not tokens:
            raise ConllError(place, "no tokens: expected a sentence")
        if tokens[0] == DOCSTART:
            documents.append([])
            markers += 1
            continue
        bad = [t for t in tag_ids if not 0 <= t < len(labels)]
        if bad:
            raise ConllError(place, f"tag id {bad[0]}: expected an id from 0 to {len(labels) - 1} ({', '.join(labels)})")
        tags, repaired = read_tags([labels[t] for t in tag_ids], [f"{place}, token {i}" for i in range(len(tokens))])
        documents[-1].append(Sentence(list(tokens), tags, repaired))
    documents = documents if documents[0] else documents[1:]
    if not any(documents):
        raise ConllError(where, "no sentences: expected rows with tokens and ner_tags")
    return ConllSplit(documents, markers)


def hf_labels(dataset) -> Sequence[str]:
    """The dataset's own label names when its features have them, else the notebook's list."""
    feature = getattr(dataset.features.get("ner_tags"), "feature", None)
    names = getattr(feature, "names", None)
    return tuple(names) if names else HF_LABELS


def load_hf_splits(name: str) -> Dict[str, ConllSplit]:
    import datasets

    try:
        dataset_dict = datasets.load_dataset(name)
    except Exception as err:  # the hub's errors vary: offline, unknown id, no access
        raise ConllError(
            f"dataset {name}",
            f"could not be loaded ({type(err).__name__}: {err}): expected a dataset id on the Hugging Face hub "
            "that this machine can reach, or a folder of CoNLL files (--vars.conll_dir)",
        ) from None
    return hf_splits(dataset_dict, name)


def hf_splits(dataset_dict, name: str) -> Dict[str, ConllSplit]:
    for split, hf_split in HF_SPLITS.items():
        if hf_split not in dataset_dict:
            raise ConllError(f"dataset {name}", f"missing {split} split: expected a split named {hf_split!r}, found {', '.join(dataset_dict)}")
    splits = {}
    for split, hf_split in HF_SPLITS.items():
        dataset = dataset_dict[hf_split]
        rows = tqdm(dataset, desc=f"reading {name} {hf_split}", unit=" sentences", disable=None)
        splits[split] = read_hf_split(rows, hf_labels(dataset), f"dataset {name}, split {hf_split}")
    return splits


def file_splits(conll_dir: Path, file_names: Dict[str, Optional[str]]) -> Dict[str, ConllSplit]:
    return {split: read_conll_file(find_split_file(conll_dir, split, file_names.get(split))) for split in SPLITS}


def split_stats(split: ConllSplit, n_docs: int) -> dict:
    sentences = [s for d in split.documents for s in d]
    entities = entity_counts(split.documents)
    return {
        "source_documents": split.markers,
        "docs": n_docs,
        "sentences": len(sentences),
        "tokens": sum(len(s.words) for s in sentences),
        "entities": entities,
        "entities_total": sum(entities.values()),
        "tags_repaired": sum(s.repaired for s in sentences),
    }


def write_split(documents: List[Document], output: Path, n_sents: int, desc: str) -> int:
    """Write the DocBin and return how many Docs it holds."""
    nlp = spacy.blank("en")
    doc_bin = DocBin(attrs=["ORTH", "SENT_START", "ENT_IOB", "ENT_TYPE"], store_user_data=False)
    progress = tqdm(total=sum(len(d) for d in documents), desc=desc, unit=" sentences", disable=None)
    for doc in sentences_to_docs(nlp.vocab, documents, n_sents):
        doc_bin.add(doc)
        progress.update(sum(1 for _ in doc.sents))
    progress.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(output)
    return len(doc_bin)


def convert(
    output_dir: Path,
    n_sents: int,
    conll_dir: Optional[Path] = None,
    dataset: str = "",
    file_names: Optional[Dict[str, Optional[str]]] = None,
) -> dict:
    """Write train/dev/test DocBins and stats.json; return the stats."""
    if conll_dir:
        splits = file_splits(conll_dir, file_names or {})
        source = str(conll_dir)
    elif dataset:
        splits = load_hf_splits(dataset)
        source = dataset
    else:
        raise ConllError("convert", "no source: expected a CoNLL folder (conll_dir) or a dataset id (dataset)")
    return write_splits(splits, output_dir, n_sents, source)


def write_splits(splits: Dict[str, ConllSplit], output_dir: Path, n_sents: int, source: str) -> dict:
    stats = {"source": source, "n_sents": n_sents, "splits": {}}
    for split in SPLITS:
        n_docs = write_split(splits[split].documents, output_dir / f"{split}.spacy", n_sents, f"writing {split}")
        stats["splits"][split] = split_stats(splits[split], n_docs)
    (output_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf8")
    return stats


def figure_mismatches(stats: dict, expected: dict) -> List[str]:
    """What differs from `expected` (conll2003_figures.json's form); documents only where the source marks them."""
    found = []
    for split, figures in stats["splits"].items():
        want = expected["splits"][split]
        pairs = [(name, figures[name], want[name]) for name in ("sentences", "tokens", "entities_total")]
        pairs += [(f"entities {t}", figures["entities"].get(t, 0), n) for t, n in want["entities"].items()]
        if figures["source_documents"]:
            pairs.append(("documents", figures["source_documents"], want["documents"]))
        found += [f"{split} {name}: {got}, expected {wanted}" for name, got, wanted in pairs if got != wanted]
    return found


def print_stats(stats: dict) -> None:
    splits = stats["splits"]
    types = sorted({t for s in splits.values() for t in s["entities"]})
    rows = [
        ("source documents (-DOCSTART-)", [s["source_documents"] for s in splits.values()]),
        (f"Docs (<= {stats['n_sents']} sentences)", [s["docs"] for s in splits.values()]),
        ("sentences", [s["sentences"] for s in splits.values()]),
        ("tokens", [s["tokens"] for s in splits.values()]),
        *((f"entities {t}", [s["entities"].get(t, 0) for s in splits.values()]) for t in types),
        ("entities", [s["entities_total"] for s in splits.values()]),
        ("tags repaired (I- opening)", [s["tags_repaired"] for s in splits.values()]),
    ]
    msg.table([(name, *values) for name, values in rows], header=("", *splits), aligns=("l", "r", "r", "r"), divider=True)


def main(
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy, test.spacy and stats.json go"),
    n_sents: int = typer.Option(10, "--n-sents", "-n", min=1, help="At most this many consecutive sentences of a document per Doc"),
    conll_dir: str = typer.Option("", "--conll-dir", help="Folder of CoNLL-2003 files; when set, --dataset is not used"),
    dataset: str = typer.Option("lhoestq/conll2003", "--dataset", help="Hugging Face dataset id, read when --conll-dir is not set"),
    train_file: Optional[str] = typer.Option(None, "--train-file", help="Name of the train file (default: eng.train or train.txt)"),
    dev_file: Optional[str] = typer.Option(None, "--dev-file", help="Name of the dev file (default: eng.testa or valid.txt)"),
    test_file: Optional[str] = typer.Option(None, "--test-file", help="Name of the test file (default: eng.testb or test.txt)"),
    expected_figures: str = typer.Option("", "--expected-figures", help="JSON of the figures the source must give (scripts/conll2003_figures.json)"),
) -> None:
    try:
        stats = convert(
            output_dir,
            n_sents,
            conll_dir=Path(conll_dir) if conll_dir else None,
            dataset=dataset,
            file_names={"train": train_file, "dev": dev_file, "test": test_file},
        )
    except ConllError as err:
        msg.fail("Could not convert the corpus", str(err), exits=1)
    msg.good(f"Wrote {', '.join(f'{s}.spacy' for s in SPLITS)} and stats.json to {output_dir} from {stats['source']}")
    print_stats(stats)
    if expected_figures:
        mismatches = figure_mismatches(stats, json.loads(Path(expected_figures).read_text(encoding="utf8")))
        if mismatches:
            msg.fail(f"The corpus does not give the figures of {expected_figures}", "\n".join(mismatches), exits=1)
        msg.good(f"Sentences, tokens and entities per type are those of {expected_figures}")


if __name__ == "__main__":
    typer.run(main)
