"""CoNLL-2003 sentences: reading, tag normalisation, and the way to and from spaCy Docs.

Both corpus sources (text files and Hugging Face datasets) end up as `Sentence`s grouped into
documents, so the rules that matter (how an `I-` tag is read, where a document ends, how
sentences become Docs) live here once.
"""
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.training import biluo_to_iob, offsets_to_biluo_tags
from spacy.vocab import Vocab

ENTITY_TYPES = ("LOC", "MISC", "ORG", "PER")
DOCSTART = "-DOCSTART-"
# The reference notebook's label list: the id order of CoNLL-2003 datasets on the hub.
HF_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


class ConllError(ValueError):
    """Bad input, with where it is (`file:line` or dataset row) and what was expected."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = where


@dataclass
class Sentence:
    words: List[str]
    tags: List[str]  # IOB2, as conlleval reads the source tags
    repaired: int = 0  # `I-` tags that opened an entity and were read as `B-`


Document = List[Sentence]


class ConllSplit(NamedTuple):
    documents: List[Document]
    markers: int  # `-DOCSTART-` lines or rows read: the source's own document count, 0 without them


def read_tags(raw_tags: Sequence[str], where: Sequence[str], entity_types=ENTITY_TYPES) -> Tuple[List[str], int]:
    """Read IOB1 or IOB2 tags as conlleval does: an `I-X` after `O` or after another type opens X.

    Returns IOB2 tags and how many `I-` tags were repaired to `B-`. `where[i]` names tag i's place
    for error messages.
    """
    tags: List[str] = []
    repaired = 0
    previous_type = None
    for i, tag in enumerate(raw_tags):
        if tag == "O":
            tags.append(tag)
            previous_type = None
            continue
        prefix, _, entity_type = tag.partition("-")
        if prefix not in ("B", "I") or entity_type not in entity_types:
            raise ConllError(
                where[i],
                f"unknown tag {tag!r}: expected O, or B- or I- followed by one of {', '.join(entity_types)}",
            )
        if prefix == "I" and previous_type != entity_type:
            prefix = "B"
            repaired += 1
        tags.append(f"{prefix}-{entity_type}")
        previous_type = entity_type
    return tags, repaired


def unusual_whitespace(line: str) -> str:
    """A note naming the whitespace other than space and tab that split the line, or ''."""
    found = sorted({char for char in line if char.isspace() and char not in " \t\r\n"})
    if not found:
        return ""
    names = ", ".join(f"U+{ord(char):04X} {unicodedata.name(char, 'whitespace')}" for char in found)
    return f" (columns are split at any whitespace, and this line holds {names})"


def read_conll_file(path: Path, entity_types=ENTITY_TYPES) -> ConllSplit:
    """Documents of a CoNLL-2003 file: NER tag in the last column, blank lines between sentences.

    A line whose first column is `-DOCSTART-` starts a document, whatever else it holds. Sentences
    before the first such line form a document of their own, so a file without markers is one
    document.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is not part of the first token
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConllError(f"{path}:{line}", f"bytes that are not UTF-8 ({err.reason}): expected UTF-8 text") from None
    if not text.strip():
        raise ConllError(str(path), "empty file: expected CoNLL-2003 lines (token ... NER-tag)")
    documents: List[Document] = []
    markers = 0
    rows: List[Tuple[List[str], str]] = []  # (columns, place) of the open sentence
    n_columns: Optional[int] = None
    first_columns_line = 0

    def close_sentence() -> None:
        if not rows:
            return
        tags, repaired = read_tags([cols[-1] for cols, _ in rows], [place for _, place in rows], entity_types)
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
                f"{len(columns)} columns: expected {n_columns}, as on line {first_columns_line}{unusual_whitespace(line)}",
            )
        rows.append((columns, f"{path}:{number}"))
    close_sentence()
    return ConllSplit(documents, markers)


def sentences_to_docs(vocab: Vocab, documents: Iterable[Document], n_sents: int) -> Iterator[Doc]:
    """Consecutive sentences of one document, at most `n_sents` of them per Doc, sentence starts set.

    Spaces are left unknown, which is what CoNLL holds and what makes spaCy's Corpus keep the gold
    tokens instead of retokenizing the text.
    """
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
    return biluo_to_iob(offsets_to_biluo_tags(doc, [(e.start_char, e.end_char, e.label_) for e in doc.ents], missing="O"))


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


def write_conll(path: Path, documents: Iterable[Document]) -> None:
    """IOB2 CoNLL-2003 text: `token -X- -X- tag`, document markers, blank lines between sentences."""
    with path.open("w", encoding="utf8") as file:
        for document in documents:
            file.write(f"{DOCSTART} -X- -X- O\n\n")
            for sentence in document:
                for word, tag in zip(sentence.words, sentence.tags):
                    file.write(f"{word} -X- -X- {tag}\n")
                file.write("\n")
