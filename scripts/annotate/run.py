"""`annotate()`: read the input, send its chunks to an engine, write the output in order, and say what was done."""

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from tqdm import tqdm

from scripts.annotate.engines import ENGINES, local_results, process_results, ray_results
from scripts.annotate.lines import AnnotateError, BadLineError, chunked, count_lines, input_format_of, read_items
from scripts.annotate.resume import resume_point
from scripts.answering.annotator import ZONE_TEXTS, Annotator
from scripts.answering.project_code import PROJECT_CODE
from scripts.answering.records import Result

SHOWN_ERRORS = 5


@dataclass
class Summary:
    lines: int = 0  # lines written by this run
    skipped: int = 0  # lines kept from an earlier run (--resume)
    errors: int = 0
    words: int = 0
    seconds: float = (
        0.0  # from the start of writing (worker start-up and model loading in --n-process and ray included)
    )
    first_chunk_seconds: float = 0.0  # until the first chunk was written
    first_chunk_lines: int = 0
    first_errors: Tuple[str, ...] = ()


def write_results(
    results: Iterable[List[Result]], stream, summary: Summary, *, strict: bool, total: Optional[int]
) -> Summary:
    start = time.perf_counter()
    with tqdm(
        total=total, initial=summary.skipped, unit=" texts", disable=None, file=sys.stderr, dynamic_ncols=True
    ) as bar:
        for chunk in results:
            bad = next((i for i, result in enumerate(chunk) if result[1] is not None), None) if strict else None
            done = chunk if bad is None else chunk[:bad]
            stream.write("".join(line + "\n" for line, _, _ in done).encode("utf8"))
            stream.flush()
            summary.lines += len(done)
            summary.words += sum(words for _, _, words in done)
            summary.seconds = time.perf_counter() - start
            if not summary.first_chunk_lines:
                summary.first_chunk_seconds, summary.first_chunk_lines = summary.seconds, len(done)
            if bad is not None:
                raise BadLineError(chunk[bad][1])
            errors = [error for _, error, _ in chunk if error is not None]
            summary.errors += len(errors)
            summary.first_errors += tuple(errors[: SHOWN_ERRORS - len(summary.first_errors)])
            bar.update(len(chunk))
            bar.set_postfix_str(f"{summary.words / max(summary.seconds, 1e-9):,.0f} words/s", refresh=False)
    return summary


def annotate(
    model: str,
    input_path: str,
    output_path: Path,
    *,
    engine: str = "local",
    batch_size: int = 1024,
    n_process: int = 1,
    gpu_id: int = -1,
    strict: bool = False,
    resume: bool = False,
    sentences: bool = False,
    ray_address: Optional[str] = None,
    input_format: Optional[str] = None,
    code: Optional[Path] = PROJECT_CODE,
    config: Optional[dict] = None,
    zone_texts: int = ZONE_TEXTS,
    annotator: Optional[Annotator] = None,
) -> Summary:
    """Write OUTPUT for INPUT (scripts/annotate/lines.py says what they hold) and say what was done.
    `code`: a file of functions the model's config names, imported in every process that loads the model
    (scripts/answering/project_code.py); None for none.
    `config`: spacy.load's overrides. `annotator`: an already loaded one for the local engine with one
    process (tests; its settings win)."""
    if engine not in ENGINES:
        raise AnnotateError(f"--engine {engine}: expected one of {', '.join(ENGINES)}")
    if batch_size < 1 or n_process < 1:
        raise AnnotateError("--batch-size and --n-process: expected 1 or more")
    if input_path != "-" and not Path(input_path).is_file():
        raise AnnotateError(f"{input_path}: no such file")
    input_format = input_format_of(input_path, input_format)
    if code and not Path(code).is_file():
        raise AnnotateError(f"--code {code}: no such file")
    source = "<stdin>" if input_path == "-" else input_path
    output_path.parent.mkdir(parents=True, exist_ok=True)
    total = count_lines(input_path)
    summary = Summary(skipped=resume_point(output_path, batch_size, total) if resume else 0)
    chunks = chunked(read_items(input_path, input_format, skip=summary.skipped), batch_size)
    kwargs = dict(
        model=model,
        source=source,
        code=str(code) if code else None,
        config=config,
        sentences=sentences,
        zone_texts=zone_texts,
    )
    if engine == "ray":
        results = ray_results(
            chunks, n_process=n_process, gpu=gpu_id >= 0, address=ray_address, annotator_kwargs=kwargs
        )
    elif n_process > 1:
        results = process_results(chunks, n_process, {**kwargs, "gpu_id": gpu_id})
    else:
        results = local_results(chunks, annotator or Annotator(**kwargs, gpu_id=gpu_id))
    with output_path.open("ab" if resume else "wb") as stream:
        try:
            write_results(results, stream, summary, strict=strict, total=total)
        finally:
            close = getattr(results, "close", None)
            if close:
                close()  # stops a pool or Ray now, not when the generator is collected
    return summary
