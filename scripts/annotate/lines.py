"""Input lines in: what annotate reads, in chunks of Items, and the errors a line can hold.

INPUT is `.txt` (a text a line) or `.jsonl` (an object a line with a "text" string; its other fields are
kept as they are), or `-` for stdin (with --input-format). OUTPUT is `.jsonl`: line i answers input line
i (scripts/answering/records.py), with --sentences "sents" too. A line that cannot be read (invalid
UTF-8 or JSON, no "text" string, a text over the model's max_length) gets an "error" saying where and
what was expected instead of "ents".
"""

import itertools
import json
import sys
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

from scripts.answering.annotator import AnswerError
from scripts.answering.records import Item, check_text

FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class AnnotateError(AnswerError):
    """What the user asked of annotate cannot be done; the message says why."""


class BadLineError(AnnotateError):
    """--strict met a bad line; the message is `file:line: what was expected`."""


def type_name(value) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def parse_line(raw: bytes, number: int, source: str, input_format: str) -> Item:
    """The Item for input line `number` (`raw` without its newline), or an Item with the error."""
    where = f"{source}:{number}"
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        raw = raw[3:]
    try:
        line = raw.decode("utf8")
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 1].hex()
        return Item(
            number, None, f"{where}: expected UTF-8 text, got byte 0x{bad} at byte {err.start + 1} ({err.reason})"
        )
    if input_format == "txt":
        return check_text(Item(number, {"text": line[:-1] if line.endswith("\r") else line}), where)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return Item(number, None, f"{where}: expected a JSON object, got invalid JSON ({err})")
    if not isinstance(record, dict):
        return Item(number, None, f"{where}: expected a JSON object, got {type_name(record)}")
    if "text" not in record:
        fields = ", ".join(map(json.dumps, record)) or "none"
        return Item(number, record, f'{where}: expected a "text" field, got fields: {fields}')
    if not isinstance(record["text"], str):
        return Item(number, record, f'{where}: expected "text" to be a string, got {type_name(record["text"])}')
    return check_text(Item(number, record), where)


def input_format_of(path: str, given: Optional[str]) -> str:
    if given:
        return given
    if path == "-":
        raise AnnotateError("stdin: say what it holds with --input-format txt or --input-format jsonl")
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise AnnotateError(f"{path}: expected a .txt (a text a line) or .jsonl file, or --input-format txt|jsonl")
    return FORMATS[suffix]


def read_raw_lines(path: str) -> Iterator[bytes]:
    """The input's lines as bytes, without their newline (a last line without one counts too)."""
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        for raw in stream:
            yield raw[:-1] if raw.endswith(b"\n") else raw
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def read_items(path: str, input_format: str, skip: int = 0) -> Iterator[Item]:
    """The input's Items, after its first `skip` lines (which are not parsed)."""
    source = "<stdin>" if path == "-" else path
    raw_lines = read_raw_lines(path)
    skipped = sum(1 for _ in itertools.islice(raw_lines, skip))
    if skipped < skip:
        raise AnnotateError(
            f"{source} has {skipped} lines, fewer than the {skip} the output kept (--resume): not its output?"
        )
    for number, raw in enumerate(raw_lines, skip + 1):
        yield parse_line(raw, number, source, input_format)


def count_lines(path: str) -> Optional[int]:
    """The input's lines, for the progress bar's total; None for stdin."""
    if path == "-":
        return None
    n, last = 0, b"\n"
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def chunked(items: Iterable[Item], size: int) -> Iterator[List[Item]]:
    iterator = iter(items)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk
