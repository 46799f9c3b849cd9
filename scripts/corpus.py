"""CoNLL-format NER data (a folder of CoNLL files, or a Hugging Face dataset) to spaCy DocBins with document context.

`python -m scripts.corpus OUTPUT_DIR ...` writes train/dev/test.spacy and stats.json. The entity types
are the data's (or those --labels lists); documents come from the source's markers, from known document
starts (CoNLL-2003's, for the hub copy without markers), or else each sentence stands alone, unless
--unmarked-documents grouped says the source is ordered text.
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import srsly
import typer
from spacy.lang.en import English
from spacy.tokens import DocBin
from spacy.vocab import Vocab, create_vocab
from tqdm import tqdm
from wasabi import msg

from scripts import cli
from scripts.conll import (
    DOCSTART,
    ConllError,
    ConllSplit,
    Document,
    entity_counts,
    parse_labels,
    read_conll_file,
    sentences_to_docs,
    tag_scheme,
)
from scripts.dataset import HF_SPLITS, class_label_types, hf_splits, load_hf_dataset

SPLITS = ("train", "dev", "test")
# Original CoNLL-2003 names (IOB1) first, then the IOB2 names most copies use.
FILE_NAMES = {"train": ("eng.train", "train.txt"), "dev": ("eng.testa", "valid.txt"), "test": ("eng.testb", "test.txt")}
# Where a split's document boundaries came from, as stats.json says it.
FROM_MARKERS = f"{DOCSTART} markers"
FROM_STARTS = "document starts"
GROUPED = "none: sentences grouped in order"
ALONE = "none: each sentence a document of its own"
# --unmarked-documents: what a source without document markers (or known starts) is taken to be.
UNMARKED = {"sentences": ALONE, "grouped": GROUPED}
FROM_TAGS = "the tags of the data"


def find_split_file(conll_dir: Path, split: str, name: Optional[str] = None) -> Path:
    names = (name,) if name else FILE_NAMES[split]
    found = [conll_dir / n for n in names if (conll_dir / n).is_file()]
    if not found:
        raise ConllError(str(conll_dir), f"missing {split} split: expected a file named {' or '.join(names)}")
    if len(found) > 1:
        raise ConllError(
            str(conll_dir),
            f"both {found[0].name} and {found[1].name} found for the {split} split: name one with --{split}-file",
        )
    return found[0]


def cut_into_documents(split: ConllSplit, starts: Sequence[int]) -> ConllSplit:
    """The split's sentences (one unmarked stream) cut where each document starts."""
    sentences = [sentence for document in split.documents for sentence in document]
    ends = list(starts[1:]) + [len(sentences)]
    return split._replace(documents=[sentences[start:end] for start, end in zip(starts, ends)], markers=len(starts))


def file_splits(
    conll_dir: Path, file_names: Dict[str, Optional[str]], labels: Optional[Sequence[str]] = None
) -> Dict[str, ConllSplit]:
    return {
        split: read_conll_file(find_split_file(conll_dir, split, file_names.get(split)), labels) for split in SPLITS
    }


def document_boundaries(
    splits: Dict[str, ConllSplit], document_starts: Optional[dict], unmarked_documents: str = "sentences"
) -> Dict[str, str]:
    """Cut unmarked splits at the known document starts where their sentence counts are those the starts
    were measured on (CoNLL-2003's, by default), else make each sentence a document or keep the split
    as one ordered document, as `unmarked_documents` says; say for each split where its documents came from."""
    if unmarked_documents not in UNMARKED:
        raise ConllError("--unmarked-documents", f"{unmarked_documents!r}: expected one of {', '.join(UNMARKED)}")
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
            continue
        found[split] = UNMARKED[unmarked_documents]
        if found[split] == ALONE:
            splits[split] = data._replace(
                documents=[[sentence] for document in data.documents for sentence in document]
            )
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
        "tag_scheme": tag_scheme(split.prefixes, sum(s.repaired for s in sentences)),
        "tags_repaired": sum(s.repaired for s in sentences),
    }


def write_split(vocab: Vocab, documents: List[Document], output: Path, n_sents: int, desc: str) -> int:
    """Write the DocBin and return how many Docs it holds."""
    doc_bin = DocBin(attrs=["ORTH", "SENT_START", "ENT_IOB", "ENT_TYPE"], store_user_data=False)
    progress = tqdm(total=sum(len(d) for d in documents), desc=desc, unit=" sentences", disable=None)
    for doc in sentences_to_docs(vocab, documents, n_sents):
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
    unmarked_documents: str = "sentences",
    labels: Optional[Sequence[str]] = None,
    columns: Tuple[str, str] = ("", ""),
) -> dict:
    """Write train/dev/test DocBins and stats.json; return the stats. `labels`, when given, are the only
    entity types allowed; `columns` name a dataset's tokens and tags columns ('' to find them)."""
    found_labels = None
    if conll_dir:
        splits = file_splits(conll_dir, file_names or {}, labels)
        source = str(conll_dir)
    elif dataset:
        dataset_dict = load_hf_dataset(dataset)
        splits = hf_splits(dataset_dict, dataset, *columns, labels=labels)
        source, found_labels = dataset, class_label_types(dataset_dict, *columns)
    else:
        raise ConllError("convert", "no source: expected a CoNLL folder (conll_dir) or a dataset id (dataset)")
    if labels is not None:
        found_labels = (list(labels), "--labels")
    return write_splits(splits, output_dir, n_sents, source, document_starts, unmarked_documents, *(found_labels or ()))


def write_splits(
    splits: Dict[str, ConllSplit],
    output_dir: Path,
    n_sents: int,
    source: str,
    document_starts: Optional[dict] = None,
    unmarked_documents: str = "sentences",
    labels: Optional[Sequence[str]] = None,
    labels_from: str = FROM_TAGS,
) -> dict:
    """`labels`: the entity types to name in stats.json (by default the types the splits hold)."""
    boundaries = document_boundaries(splits, document_starts, unmarked_documents)
    if labels is None:
        labels = sorted({t for data in splits.values() for t in entity_counts(data.documents)})
    stats = {
        "source": source,
        "labels": list(labels),
        "labels_from": labels_from,
        "n_sents": n_sents,
        "unmarked_documents": unmarked_documents,
        "splits": {},
    }
    # English's vocab as spacy.blank("en") makes it (the same DocBin bytes), without a Language: making one loads
    # every package's spaCy entry points, spacy-transformers and transformers among them, which takes seconds
    # (docs/tests.md#where-the-time-goes).
    vocab = create_vocab("en", English.Defaults)
    for split in SPLITS:
        n_docs = write_split(vocab, splits[split].documents, output_dir / f"{split}.spacy", n_sents, f"writing {split}")
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
        if figures["document_boundaries"] in (FROM_MARKERS, FROM_STARTS):
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
        ("tag scheme", [s["tag_scheme"] for s in splits.values()]),
    ]
    msg.table(
        [(name, *values) for name, values in rows], header=("", *splits), aligns=("l", "r", "r", "r"), divider=True
    )
    msg.info(f"{len(stats['labels'])} entity types, from {stats['labels_from']}: {', '.join(stats['labels'])}")
    for split, figures in splits.items():
        if figures["document_boundaries"] == GROUPED:
            msg.warn(
                f"{split}: the source marks no documents and its {figures['sentences']} sentences match no known "
                f"document starts, so Docs are runs of {stats['n_sents']} neighbouring sentences "
                "that may cross documents"
            )
        elif figures["document_boundaries"] == ALONE:
            msg.info(
                f"{split}: the source marks no documents, "
                f"so each of its {figures['sentences']} sentences is a Doc of its own "
                "(--unmarked-documents grouped takes the source for ordered text: "
                f"runs of up to {stats['n_sents']} sentences)"
            )
        else:
            msg.info(f"{split}: {figures['source_documents']} documents from {figures['document_boundaries']}")


def main(
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy, test.spacy and stats.json go"),
    n_sents: int = typer.Option(
        10, "--n-sents", "-n", min=1, help="At most this many consecutive sentences of a document per Doc"
    ),
    conll_dir: str = typer.Option("", "--conll-dir", help="Folder of CoNLL files; when set, --dataset is not used"),
    dataset: str = typer.Option(
        "lhoestq/conll2003",
        "--dataset",
        help="Hugging Face dataset id or local dataset folder, read when --conll-dir is not set",
    ),
    labels: str = typer.Option(
        "", "--labels", help="The only entity types allowed, split by commas or spaces ('': the data's own)"
    ),
    unmarked_documents: str = typer.Option(
        "sentences",
        "--unmarked-documents",
        help="A source without documents: 'sentences' (each alone) or 'grouped' (ordered text)",
    ),
    tokens_column: str = typer.Option(
        "", "--tokens-column", help="The dataset's tokens column ('': tokens, words, or the only list of strings)"
    ),
    tags_column: str = typer.Option(
        "", "--tags-column", help="The dataset's tags column ('': ner_tags, tags, ner, labels, or the only other list)"
    ),
    train_file: Optional[str] = typer.Option(
        None, "--train-file", help="Name of the train file (default: eng.train or train.txt)"
    ),
    dev_file: Optional[str] = typer.Option(
        None, "--dev-file", help="Name of the dev file (default: eng.testa or valid.txt)"
    ),
    test_file: Optional[str] = typer.Option(
        None, "--test-file", help="Name of the test file (default: eng.testb or test.txt)"
    ),
    expected_figures: str = typer.Option(
        "", "--expected-figures", help="JSON of the figures the source must give (scripts/data/conll2003_figures.json)"
    ),
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
            unmarked_documents=unmarked_documents,
            labels=parse_labels(labels),
            columns=(tokens_column, tags_column),
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
    cli.run(main)
