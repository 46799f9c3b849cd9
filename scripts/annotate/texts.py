"""A stream of short invented news texts that keeps bringing strings spaCy has not seen, as a real stream
of short texts does (names, numbers, typos): each text has a reference number and every other one an
invented name. The tests of memory zones and resume, and `measure`, read it."""

import random
import string
from pathlib import Path
from typing import Iterator


def stream_texts(n: int, seed: int = 0) -> Iterator[str]:
    from scripts.synthetic_news import generate_texts

    pool = [" ".join(words) for words in generate_texts(5000, seed)]
    rng = random.Random(seed)
    for i in range(n):
        text = f"{rng.choice(pool)} Ref {i:07d}"
        if i % 2:
            text += " per " + "".join(rng.choices(string.ascii_lowercase, k=7)).capitalize()
        yield text


def write_input(path: Path, n: int, seed: int = 0) -> Path:
    """`n` texts of the stream as a .txt file for annotate, a text a line."""
    with path.open("w", encoding="utf8") as stream:
        for text in stream_texts(n, seed):
            stream.write(text + "\n")
    return path
