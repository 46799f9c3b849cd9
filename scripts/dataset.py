"""A Hugging Face dataset (a hub id, a local folder of data files, or a `save_to_disk` folder) as the
corpus step's splits: a tokens column and a tags column, tags as `ClassLabel` ids or as strings.

The columns are found by name (`tokens`, `ner_tags`, ...) or as the only one of their kind, unless
named; the label names come from the tags' `ClassLabel` feature.
"""

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from tqdm import tqdm

from scripts.conll import DOCSTART, HF_LABELS, ConllError, ConllSplit, Document, Sentence, read_tags, tag_prefixes
from scripts.hub import OFFLINE_ADVICE, go_offline_if_unreachable

HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
# Column names tried first, in this order; else the one column of the kind.
TOKEN_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("ner_tags", "tags", "ner", "labels")


def load_hf_dataset(name: str):
    """A DatasetDict from a `save_to_disk` folder, a folder of data files, or the hub."""
    path = Path(name)
    problem = None if path.exists() else go_offline_if_unreachable()
    import datasets

    try:
        if (path / "dataset_dict.json").is_file():
            return datasets.load_from_disk(str(path))
        return datasets.load_dataset(name)
    except Exception as err:  # the hub's errors vary: offline, unknown id, no access
        reason = f"the hub: {problem}" if problem else f"{type(err).__name__}: {err}"
        raise ConllError(
            f"dataset {name}",
            f"could not be loaded ({reason}): "
            "expected a dataset id on the Hugging Face hub that this machine can reach, "
            "a copy in its cache, or a local folder (data files, or a dataset saved with save_to_disk). "
            f"{OFFLINE_ADVICE}",
        ) from None


def sequence_feature(feature):
    """What a list column holds (Sequence, List or [feature]), or None for other columns."""
    return feature[0] if isinstance(feature, list) and feature else getattr(feature, "feature", None)


def is_strings(feature) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def is_tags(feature) -> bool:
    return (
        type(feature).__name__ == "ClassLabel"
        or is_strings(feature)
        or str(getattr(feature, "dtype", "")).startswith(("int", "uint"))
    )


def pick_column(
    features: dict, named: str, preferred: Sequence[str], fits, kind: str, where: str, option: str, exclude: str = ""
) -> str:
    """`named` if set (it must exist), else the first `preferred` name that fits, else the only column that fits."""
    if named:
        if named not in features:
            raise ConllError(where, f"no column {named!r} for the {kind}: expected one of {', '.join(features)}")
        return named
    fitting = [name for name, feature in features.items() if name != exclude and fits(sequence_feature(feature))]
    for name in preferred:
        if name in fitting:
            return name
    if len(fitting) != 1:
        found = ", ".join(fitting) or "none"
        raise ConllError(
            where, f"cannot tell which column holds the {kind} (lists that could: {found}): name it with {option}"
        )
    return fitting[0]


def find_columns(features: dict, where: str, tokens_column: str = "", tags_column: str = "") -> Tuple[str, str]:
    """The tokens column (a list of strings) and the tags column (a list of ClassLabel ids, integers or strings)."""
    tokens = pick_column(features, tokens_column, TOKEN_COLUMNS, is_strings, "tokens", where, "--tokens-column")
    tags = pick_column(features, tags_column, TAG_COLUMNS, is_tags, "tags", where, "--tags-column", exclude=tokens)
    return tokens, tags


def tag_names(features: dict, tags_column: str) -> Optional[Tuple[str, ...]]:
    """The id-to-tag list for integer tags: the ClassLabel's names, else CoNLL-2003's order (lhoestq/conll2003
    stores bare ids); None for string tags."""
    feature = sequence_feature(features[tags_column])
    names = getattr(feature, "names", None)
    if names:
        return tuple(names)
    return None if is_strings(feature) else HF_LABELS


def read_hf_split(
    rows: Iterable[dict],
    names: Optional[Sequence[str]],
    where: str,
    columns: Tuple[str, str] = ("tokens", "ner_tags"),
    labels: Optional[Sequence[str]] = None,
) -> ConllSplit:
    """Documents from dataset rows: tokens, and tags as ids into `names` (or as strings when `names` is None).

    Rows that are just `-DOCSTART-` (some copies of CoNLL-2003 keep them) start a document;
    without them the split is one document, for the corpus step to divide.
    """
    tokens_column, tags_column = columns
    documents: List[Document] = [[]]
    markers = 0
    prefixes: set = set()
    for number, row in enumerate(rows):
        place = f"{where}, row {number}"
        tokens, raw = row[tokens_column], row[tags_column]
        if len(tokens) != len(raw):
            raise ConllError(place, f"{len(tokens)} tokens but {len(raw)} {tags_column}: expected one tag per token")
        if not tokens:
            raise ConllError(place, "no tokens: expected a sentence")
        if tokens[0] == DOCSTART:
            documents.append([])
            markers += 1
            continue
        if names is not None:
            bad = [t for t in raw if not 0 <= t < len(names)]
            if bad:
                raise ConllError(
                    place, f"tag id {bad[0]}: expected an id from 0 to {len(names) - 1} ({', '.join(names)})"
                )
            raw = [names[t] for t in raw]
        tags, repaired = read_tags(raw, [f"{place}, token {i}" for i in range(len(tokens))], labels)
        prefixes.update(tag_prefixes(raw))
        documents[-1].append(Sentence(list(tokens), tags, repaired))
    documents = documents if documents[0] else documents[1:]
    if not any(documents):
        raise ConllError(where, f"no sentences: expected rows with {tokens_column} and {tags_column}")
    return ConllSplit(documents, markers, frozenset(prefixes))


def hf_splits(
    dataset_dict,
    name: str,
    tokens_column: str = "",
    tags_column: str = "",
    labels: Optional[Sequence[str]] = None,
) -> Dict[str, ConllSplit]:
    for split, hf_split in HF_SPLITS.items():
        if hf_split not in dataset_dict:
            raise ConllError(
                f"dataset {name}",
                f"missing {split} split: expected a split named {hf_split!r}, found {', '.join(dataset_dict)}",
            )
    splits = {}
    for split, hf_split in HF_SPLITS.items():
        dataset, where = dataset_dict[hf_split], f"dataset {name}, split {hf_split}"
        columns = find_columns(dataset.features, where, tokens_column, tags_column)
        rows = tqdm(dataset, desc=f"reading {name} {hf_split}", unit=" sentences", disable=None)
        splits[split] = read_hf_split(rows, tag_names(dataset.features, columns[1]), where, columns, labels)
    return splits


def class_label_types(dataset_dict, tokens_column: str = "", tags_column: str = "") -> Optional[Tuple[List[str], str]]:
    """The entity types the train split's tag names list, and where they come from; None for string tags."""
    features = dataset_dict[HF_SPLITS["train"]].features
    tags_column = find_columns(features, "train", tokens_column, tags_column)[1]
    names = tag_names(features, tags_column)
    if names is None:
        return None
    origin = (
        "the dataset's tag names"
        if getattr(sequence_feature(features[tags_column]), "names", None)
        else "CoNLL-2003's tag ids (the dataset names none)"
    )
    return sorted({tag.partition("-")[2] for tag in names if tag != "O"}), origin
