"""CoNLL-2003 (a folder of CoNLL files, or a Hugging Face dataset) to spaCy DocBins with document context.

`python -m scripts.corpus OUTPUT_DIR ...` writes train/dev/test.spacy and stats.json.
"""
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from tqdm import tqdm
from wasabi import msg

from scripts.conll import DOCSTART, HF_LABELS, ConllError, ConllSplit, Document, Sentence, entity_counts, read_conll_file, read_tags, sentences_to_docs
from scripts.hub import OFFLINE_ADVICE, go_offline_if_unreachable

SPLITS = ("train", "dev", "test")
# Original CoNLL-2003 names (IOB1) first, then the IOB2 names most copies use.
FILE_NAMES = {"train": ("eng.train", "train.txt"), "dev": ("eng.testa", "valid.txt"), "test": ("eng.testb", "test.txt")}
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
# Where a split's document boundaries came from, as stats.json says it.
FROM_MARKERS = f"{DOCSTART} markers"
FROM_STARTS = "document starts"
GROUPED = "none: sentences grouped in order"


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
    without them the split is one document, for `cut_into_documents` to divide.
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


def cut_into_documents(split: ConllSplit, starts: Sequence[int]) -> ConllSplit:
    """The split's sentences (one unmarked stream) cut where each document starts."""
    sentences = [sentence for document in split.documents for sentence in document]
    ends = list(starts[1:]) + [len(sentences)]
    return ConllSplit([sentences[start:end] for start, end in zip(starts, ends)], len(starts))


def hf_labels(dataset) -> Sequence[str]:
    """The dataset's own label names when its features have them, else the notebook's list."""
    feature = getattr(dataset.features.get("ner_tags"), "feature", None)
    names = getattr(feature, "names", None)
    return tuple(names) if names else HF_LABELS


def load_hf_dataset(name: str):
    problem = go_offline_if_unreachable()
    import datasets

    try:
        return datasets.load_dataset(name)
    except Exception as err:  # the hub's errors vary: offline, unknown id, no access
        reason = f"the hub: {problem}" if problem else f"{type(err).__name__}: {err}"
        raise ConllError(
            f"dataset {name}",
            f"could not be loaded ({reason}): expected a dataset id on the Hugging Face hub that this machine can reach, "
            f"or a copy in its cache. {OFFLINE_ADVICE}",
        ) from None


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


def document_boundaries(splits: Dict[str, ConllSplit], document_starts: Optional[dict]) -> Dict[str, str]:
    """Cut unmarked splits at the known document starts where their sentence counts are those the starts
    were measured on (CoNLL-2003's, by default); say for each split where its documents came from."""
    found = {}
    for split, data in splits.items():
        if data.markers:
            found[split] = FROM_MARKERS
            continue
        known = (document_starts or {}).get("splits", {}).get(HF_SPLITS[split])
        n_sentences = sum(len(d) for d in data.documents)
        if known and known["sentences"] == n_sentences:
            splits[split] = cut_into_documents(data, known["document_starts"])
            found[split] = FROM_STARTS
        else:
            found[split] = GROUPED
    return found


def split_stats(split: ConllSplit, n_docs: int, boundaries: str) -> dict:
    sentences = [s for d in split.documents for s in d]
    entities = entity_counts(split.documents)
    return {
        "source_documents": split.markers,
        "document_boundaries": boundaries,
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
    document_starts: Optional[dict] = None,
) -> dict:
    """Write train/dev/test DocBins and stats.json; return the stats."""
    if conll_dir:
        splits = file_splits(conll_dir, file_names or {})
        source = str(conll_dir)
    elif dataset:
        splits = hf_splits(load_hf_dataset(dataset), dataset)
        source = dataset
    else:
        raise ConllError("convert", "no source: expected a CoNLL folder (conll_dir) or a dataset id (dataset)")
    return write_splits(splits, output_dir, n_sents, source, document_starts)


def write_splits(splits: Dict[str, ConllSplit], output_dir: Path, n_sents: int, source: str, document_starts: Optional[dict] = None) -> dict:
    boundaries = document_boundaries(splits, document_starts)
    stats = {"source": source, "n_sents": n_sents, "splits": {}}
    for split in SPLITS:
        n_docs = write_split(splits[split].documents, output_dir / f"{split}.spacy", n_sents, f"writing {split}")
        stats["splits"][split] = split_stats(splits[split], n_docs, boundaries[split])
    srsly.write_json(output_dir / "stats.json", stats)
    return stats


def figure_mismatches(stats: dict, expected: dict) -> List[str]:
    """What differs from `expected` (conll2003_figures.json's form); documents only where the source has boundaries."""
    found = []
    for split, figures in stats["splits"].items():
        want = expected["splits"][split]
        pairs = [(name, figures[name], want[name]) for name in ("sentences", "tokens", "entities_total")]
        pairs += [(f"entities {t}", figures["entities"].get(t, 0), n) for t, n in want["entities"].items()]
        if figures["document_boundaries"] != GROUPED:
            pairs.append(("documents", figures["source_documents"], want["documents"]))
        found += [f"{split} {name}: {got}, expected {wanted}" for name, got, wanted in pairs if got != wanted]
    return found


def print_stats(stats: dict) -> None:
    splits = stats["splits"]
    types = sorted({t for s in splits.values() for t in s["entities"]})
    rows = [
        ("source documents", [s["source_documents"] for s in splits.values()]),
        (f"Docs (<= {stats['n_sents']} sentences)", [s["docs"] for s in splits.values()]),
        ("sentences", [s["sentences"] for s in splits.values()]),
        ("tokens", [s["tokens"] for s in splits.values()]),
        *((f"entities {t}", [s["entities"].get(t, 0) for s in splits.values()]) for t in types),
        ("entities", [s["entities_total"] for s in splits.values()]),
        ("tags repaired (I- opening)", [s["tags_repaired"] for s in splits.values()]),
    ]
    msg.table([(name, *values) for name, values in rows], header=("", *splits), aligns=("l", "r", "r", "r"), divider=True)
    for split, figures in splits.items():
        if figures["document_boundaries"] == GROUPED:
            msg.warn(
                f"{split}: the source marks no documents and its {figures['sentences']} sentences match no known "
                f"document starts, so Docs are runs of {stats['n_sents']} neighbouring sentences that may cross documents"
            )
        else:
            msg.info(f"{split}: {figures['source_documents']} documents from {figures['document_boundaries']}")


def main(
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy, test.spacy and stats.json go"),
    n_sents: int = typer.Option(10, "--n-sents", "-n", min=1, help="At most this many consecutive sentences of a document per Doc"),
    conll_dir: str = typer.Option("", "--conll-dir", help="Folder of CoNLL-2003 files; when set, --dataset is not used"),
    dataset: str = typer.Option("lhoestq/conll2003", "--dataset", help="Hugging Face dataset id, read when --conll-dir is not set"),
    train_file: Optional[str] = typer.Option(None, "--train-file", help="Name of the train file (default: eng.train or train.txt)"),
    dev_file: Optional[str] = typer.Option(None, "--dev-file", help="Name of the dev file (default: eng.testa or valid.txt)"),
    test_file: Optional[str] = typer.Option(None, "--test-file", help="Name of the test file (default: eng.testb or test.txt)"),
    expected_figures: str = typer.Option("", "--expected-figures", help="JSON of the figures the source must give (scripts/data/conll2003_figures.json)"),
    document_starts: str = typer.Option(
        "scripts/data/conll2003_document_starts.json",
        "--document-starts",
        help="JSON of where each document starts, for a source without -DOCSTART- markers ('' for none)",
    ),
) -> None:
    try:
        stats = convert(
            output_dir,
            n_sents,
            conll_dir=Path(conll_dir) if conll_dir else None,
            dataset=dataset,
            file_names={"train": train_file, "dev": dev_file, "test": test_file},
            document_starts=srsly.read_json(document_starts) if document_starts else None,
        )
    except ConllError as err:
        msg.fail("Could not convert the corpus", str(err), exits=1)
    msg.good(f"Wrote {', '.join(f'{s}.spacy' for s in SPLITS)} and stats.json to {output_dir} from {stats['source']}")
    print_stats(stats)
    if expected_figures:
        mismatches = figure_mismatches(stats, srsly.read_json(expected_figures))
        if mismatches:
            msg.fail(f"The corpus does not give the figures of {expected_figures}", "\n".join(mismatches), exits=1)
        msg.good(f"Sentences, tokens, entities per type and documents are those of {expected_figures}")


if __name__ == "__main__":
    typer.run(main)
