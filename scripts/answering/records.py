"""A record in, its answer line out: what annotate writes for a line and serve answers for a text.

An answer is the record's fields plus "ents" ([{"start", "end", "label", "text"}], offsets in characters of
the text, as Python counts them) and, on request, "sents" ([{"start", "end"}]); a record that cannot be
answered gets an "error" saying where and what was expected instead of "ents".
"""

import json
from dataclasses import dataclass
from typing import Optional, Tuple

RESERVED = ("ents", "sents", "error")  # the answer's own fields: record fields of these names are dropped


@dataclass
class Item:
    """One input record: its number (from 1), the record, or why it holds none."""

    number: int
    record: Optional[dict]
    error: Optional[str] = None


# One answer: the JSON line (no newline), the error it reports or None, and the text's tokens.
Result = Tuple[str, Optional[str], int]


def check_text(item: Item, where: str) -> Item:
    """`item`, with an error where its text holds what no tokenizer takes."""
    text = item.record["text"]
    try:
        text.encode("utf8")
    except UnicodeEncodeError as err:  # a JSON escape such as "\ud800": no character
        code, at = ord(text[err.start]), err.start + 1
        item.error = f'{where}: expected "text" without lone surrogates, got \\u{code:04x} at character {at}'
    return item


def dumps(value: dict) -> str:
    """One JSON line: UTF-8 as it is, or escaped where a field holds what UTF-8 cannot (a lone surrogate)."""
    line = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        line.encode("utf8")
    except UnicodeEncodeError:
        line = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return line


def kept_fields(record: Optional[dict]) -> dict:
    return {key: value for key, value in (record or {}).items() if key not in RESERVED}


def error_result(item: Item) -> Result:
    return dumps({**kept_fields(item.record), "error": item.error}), item.error, 0


def doc_result(record: dict, doc, sentences: bool) -> Result:
    value = kept_fields(record)
    value["ents"] = [{"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in doc.ents]
    if sentences:
        value["sents"] = [{"start": s.start_char, "end": s.end_char} for s in doc.sents] if len(doc) else []
    return dumps(value), None, len(doc)
