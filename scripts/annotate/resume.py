"""--resume: where a partly written output picks up.

Input lines go to the model in chunks of --batch-size lines fixed by line number (lines 1..n,
n+1..2n, ...), and a line's output depends only on its chunk, so a resumed run that redoes the
output's unfinished chunk writes the same bytes as a run that was never stopped.
"""

from pathlib import Path
from typing import Optional


def resume_point(output: Path, chunk_lines: int, input_lines: Optional[int] = None) -> int:
    """Cut OUTPUT after its last complete chunk of `chunk_lines` lines (a torn last line, and the
    complete lines of an unfinished chunk, go: they are redone as the same chunk) and return how many
    lines it keeps; all of them when they answer every one of the input's `input_lines`."""
    if not output.exists():
        return 0
    keep = keep_bytes = lines = offset = 0
    with output.open("rb") as stream:
        for raw in stream:
            if not raw.endswith(b"\n"):
                break
            lines += 1
            offset += len(raw)
            if lines % chunk_lines == 0 or lines == input_lines:
                keep, keep_bytes = lines, offset
    with output.open("r+b") as stream:
        stream.truncate(keep_bytes)
    return keep
