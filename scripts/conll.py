"""CoNLL-format NER sentences: reading, tag normalisation, and the way to and from spaCy Docs.

Both corpus sources (text files and Hugging Face datasets) end up as `Sentence`s grouped into
documents, so the rules that matter (how a tag is read, where a document ends, how sentences
become Docs) live here once. Any entity types are read; IOB1, IOB2 (BIO), BILOU and IOBES tags
all become IOB2, read as conlleval reads them.

spaCy is imported where Docs are made or read, not here: writing CoNLL text (the demo's data) needs
none of it, and importing it costs seconds, as thinc imports torch (docs/tests.md#where-the-time-goes).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    AbstractSet,
    Collection,
    Dict,
    FrozenSet,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

if TYPE_CHECKING:
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

DOCSTART = "-DOCSTART-"
# The reference notebook's label list: the id order of CoNLL-2003 datasets on the hub.
HF_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
# An entity type: letters, digits, `-`, `_` and `.` (`creative-work`, `WORK_OF_ART`, `loc.city`).
ENTITY_TYPE = re.compile(r"[\w.-]+")
# Tag prefixes: B(egin) and I(nside) of IOB1/IOB2; L(ast)/E(nd) and U(nit)/S(ingle) of BILOU/IOBES.
PREFIXES = ("B", "I", "E", "L", "S", "U")
OPENING, CLOSING = frozenset("BSU"), frozenset("ELSU")


class ConllError(ValueError):
    """Bad input, with where it is (`file:line` or dataset row) and what was expected."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = where


@dataclass
class Sentence:
    words: List[str]
    tags: List[str]  # IOB2, as conlleval reads the source tags
    repaired: int = 0  # `I-` (or `E-`, `L-`) tags that opened an entity and were read as `B-`


Document = List[Sentence]


class ConllSplit(NamedTuple):
    documents: List[Document]
    markers: int  # `-DOCSTART-` lines or rows read: the source's own document count, 0 without them
    prefixes: FrozenSet[str] = frozenset()  # the tag prefixes the source used, which tell its scheme


def parse_labels(text: str, where: str = "--labels") -> Optional[Tuple[str, ...]]:
    """Entity types split by commas or whitespace; None for an empty text (the data's own types)."""
    names = [name for name in re.split(r"[,\s]+", text) if name]
    for name in names:
        if not ENTITY_TYPE.fullmatch(name):
            raise ConllError(where, f"entity type {name!r}: expected letters, digits, '-', '_' or '.'")
    return tuple(names) or None


def expected_tags(labels: Optional[Collection[str]]) -> str:
    types = f"one of {', '.join(labels)}" if labels is not None else "an entity type (letters, digits, '-', '_', '.')"
    return f"expected O, or {', '.join(p + '-' for p in PREFIXES)} followed by {types}"


def read_tags(
    raw_tags: Sequence[str], where: Sequence[str], labels: Optional[Collection[str]] = None
) -> Tuple[List[str], int]:
    """Read IOB1, IOB2, BILOU or IOBES tags as conlleval does: an entity opens at `B-`, `S-`/`U-`, or at
    any tag of another type than the one before, or after `O` or an `E-`/`L-`/`S-`/`U-` tag.

    Returns IOB2 tags and how many `I-`, `E-` or `L-` tags opened an entity (read as `B-`). `where[i]`
    names tag i's place for error messages; `labels`, when given, are the only entity types allowed.
    """
    tags: List[str] = []
    repaired = 0
    previous_type, previous_closed = None, True
    for i, tag in enumerate(raw_tags):
        if tag == "O":
            tags.append(tag)
            previous_type, previous_closed = None, True
            continue
        prefix, _, entity_type = tag.partition("-")
        known = entity_type in labels if labels is not None else bool(ENTITY_TYPE.fullmatch(entity_type))
        if prefix not in PREFIXES or not known:
            raise ConllError(where[i], f"unknown tag {tag!r}: {expected_tags(labels)}")
        opens = prefix in OPENING or previous_closed or previous_type != entity_type
        repaired += opens and prefix not in OPENING
        tags.append(f"{'B' if opens else 'I'}-{entity_type}")
        previous_type, previous_closed = entity_type, prefix in CLOSING
    return tags, repaired


def tag_prefixes(raw_tags: Iterable[str]) -> FrozenSet[str]:
    return frozenset(tag.partition("-")[0] for tag in raw_tags if tag != "O")


def tag_scheme(prefixes: AbstractSet[str], repaired: int) -> str:
    """The scheme a source's tags follow, by the prefixes it used and whether `I-` opened entities."""
    if prefixes & {"L", "U"}:
        return "BILOU"
    if prefixes & {"E", "S"}:
        return "IOBES"
    if repaired:
        return "IOB1"
    return "IOB2 (BIO)" if prefixes else "none (no entities)"


def unusual_whitespace(line: str) -> str:
    """A note naming the whitespace other than space and tab that split the line, or ''."""
    found = sorted({char for char in line if char.isspace() and char not in " \t\r\n"})
    if not found:
        return ""
    names = ", ".join(f"U+{ord(char):04X} {unicodedata.name(char, 'whitespace')}" for char in found)
    return f" (columns are split at any whitespace, and this line holds {names})"


def read_conll_file(path: Path, labels: Optional[Collection[str]] = None) -> ConllSplit:
    """Documents of a CoNLL file: the token in the first column and the NER tag in the last, columns
    split by tabs or spaces (as many on every line of a file), blank lines between sentences.

    A line whose first column is `-DOCSTART-` starts a document, whatever else it holds. Sentences
    before the first such line form a document of their own, so a file without markers is one
    document. `labels`, when given, are the only entity types allowed.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is not part of the first token
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConllError(f"{path}:{line}", f"bytes that are not UTF-8 ({err.reason}): expected UTF-8 text") from None
    if not text.strip():
        raise ConllError(str(path), "empty file: expected CoNLL lines (token ... NER-tag)")
    documents: List[Document] = []
    markers = 0
    prefixes: set = set()
    rows: List[Tuple[List[str], str]] = []  # (columns, place) of the open sentence
    n_columns: Optional[int] = None
    first_columns_line = 0

    def close_sentence() -> None:
        if not rows:
            return
        raw_tags = [cols[-1] for cols, _ in rows]
        tags, repaired = read_tags(raw_tags, [place for _, place in rows], labels)
        prefixes.update(tag_prefixes(raw_tags))
        if not documents:
            documents.append([])
        documents[-1].append(Sentence([cols[0] for cols, _ in rows], tags, repaired))
        rows.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        columns = line.split()
        if not columns:
            close_sentence()
            continue
        if columns[0] == DOCSTART:
            if rows:
                raise ConllError(
                    f"{path}:{number}",
                    f"{DOCSTART} inside the sentence that starts on line {rows[0][1].rsplit(':', 1)[1]}: "
                    "expected a blank line before it",
                )
            documents.append([])
            markers += 1
            continue
        if n_columns is None:
            if len(columns) < 2:
                raise ConllError(f"{path}:{number}", "1 column: expected a token and an NER tag, split by whitespace")
            n_columns, first_columns_line = len(columns), number
        elif len(columns) != n_columns:
            raise ConllError(
                f"{path}:{number}",
                f"{len(columns)} columns: expected {n_columns}, as on line "
                f"{first_columns_line}{unusual_whitespace(line)}",
            )
        rows.append((columns, f"{path}:{number}"))
    close_sentence()
    return ConllSplit(documents, markers, frozenset(prefixes))


def sentences_to_docs(vocab: Vocab, documents: Iterable[Document], n_sents: int) -> Iterator[Doc]:
    """Consecutive sentences of one document, at most `n_sents` of them per Doc, sentence starts set.

    Spaces are left unknown, which is what CoNLL holds and what makes spaCy's Corpus keep the gold
    tokens instead of retokenizing the text.
    """
    from spacy.tokens import Doc

    if n_sents < 1:
        raise ValueError(f"n_sents must be 1 or more, got {n_sents}")
    for document in documents:
        for start in range(0, len(document), n_sents):
            sentences = document[start : start + n_sents]
            words = [word for sentence in sentences for word in sentence.words]
            sent_starts = [i == 0 for sentence in sentences for i in range(len(sentence.words))]
            tags = [tag for sentence in sentences for tag in sentence.tags]
            yield Doc(vocab, words=words, sent_starts=sent_starts, ents=tags)


def iob2_tags(doc: Doc) -> List[str]:
    """The Doc's entities as one IOB2 tag per token."""
    from spacy.training import biluo_to_iob, offsets_to_biluo_tags

    return biluo_to_iob(
        offsets_to_biluo_tags(doc, [(e.start_char, e.end_char, e.label_) for e in doc.ents], missing="O")
    )


def split_by_sentences(doc: Doc, values: Sequence) -> List[list]:
    """`values` (one per token of `doc`) cut at the Doc's sentence starts."""
    sentences = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
    return [list(values[sentence.start : sentence.end]) for sentence in sentences]


def doc_to_sentences(doc: Doc) -> List[List[Tuple[str, str]]]:
    """(word, IOB2 tag) per token, one list per sentence; the inverse of `sentences_to_docs`."""
    return split_by_sentences(doc, list(zip((token.text for token in doc), iob2_tags(doc))))


def entity_counts(documents: Iterable[Document]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for document in documents:
        for sentence in document:
            for tag in sentence.tags:
                if tag.startswith("B-"):
                    counts[tag[2:]] = counts.get(tag[2:], 0) + 1
    return dict(sorted(counts.items()))


def iob2_to_bilou(tags: Sequence[str]) -> List[str]:
    """BILOU tags for IOB2 ones (`U-` for one-token entities, `L-` for the last token of longer ones)."""
    bilou = []
    for i, tag in enumerate(tags):
        ends = i + 1 == len(tags) or not tags[i + 1].startswith("I-")
        if tag != "O" and ends:
            tag = ("U-" if tag.startswith("B-") else "L-") + tag[2:]
        bilou.append(tag)
    return bilou


# How `write_conll` lays a file out: CoNLL-2003's four space-separated columns with document markers,
# or a token and a tag split by a tab, sentences only (WNUT-17's files, most exports).
LAYOUTS = ("conll2003", "tsv")
SCHEMES = ("iob2", "bilou")


def write_conll(path: Path, documents: Iterable[Document], layout: str = "conll2003", scheme: str = "iob2") -> None:
    """CoNLL text, blank lines between sentences, in one of `LAYOUTS` and `SCHEMES`."""
    if layout not in LAYOUTS or scheme not in SCHEMES:
        raise ValueError(f"layout {layout!r}, scheme {scheme!r}: expected one of {LAYOUTS} and one of {SCHEMES}")
    line = "{} -X- -X- {}\n" if layout == "conll2003" else "{}\t{}\n"
    with path.open("w", encoding="utf8") as file:
        for document in documents:
            if layout == "conll2003":
                file.write(line.format(DOCSTART, "O") + "\n")
            for sentence in document:
                tags = iob2_to_bilou(sentence.tags) if scheme == "bilou" else sentence.tags
                file.writelines(line.format(word, tag) for word, tag in zip(sentence.words, tags))
                file.write("\n")
