"""Annotate a file of texts with any pipeline (an installed package or a folder): a file in, a file out.

    python -m scripts.annotate MODEL INPUT OUTPUT [--engine local|ray] [--batch-size N] [--n-process N]
        [--gpu-id N] [--strict] [--resume] [--sentences] [--ray-address ADDRESS] [--input-format txt|jsonl] [--code FILE]

INPUT is `.txt` (a text a line) or `.jsonl` (an object a line with a "text" string; its other fields are
kept as they are), or `-` for stdin (with --input-format). OUTPUT is `.jsonl`: line i answers input line
i, with the input's fields plus "ents" ([{"start", "end", "label", "text"}], offsets in characters of
the text, as Python counts them) and, with --sentences, "sents" ([{"start", "end"}]). A line that
cannot be read (invalid UTF-8 or JSON, no "text" string, a text over the model's max_length) gets an
"error" saying where and what was expected instead of "ents"; --strict stops at the first.

Input lines go to the model in chunks of --batch-size lines, fixed by line number (lines 1..n, n+1..2n,
...), and a line's output depends only on its chunk, so every engine and every resumed run writes the
same bytes. --resume keeps the output's complete chunks and does the rest.

Engines: local runs one process, or --n-process worker processes fed chunks in order; ray runs the
same chunks on Ray Data, --n-process actors (one GPU each with --gpu-id), on a local Ray or the
cluster at --ray-address. The model is loaded once per process or actor, after running --code (the
project's custom functions, which a model folder's config may name), sent as text.

Memory stays flat over any number of texts: spaCy keeps every new string and word it meets (~2 a
short text), so each worker annotates in memory zones, after a warm-up outside them, and reloads the
pipeline now and then (Annotator says how and why; scripts/annotate_memory.py measures it).
"""
import ctypes
import itertools
import json
import multiprocessing
import os
import sys
import time
import types
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Tuple

import typer
from wasabi import msg

ENGINES = ("local", "ray")
FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl"}
RESERVED = ("ents", "sents", "error")  # annotate's own fields: input fields of these names are dropped
# Memory (see Annotator and scripts/annotate_memory.py): texts a memory zone, and strings the zones may
# free before the pipeline is loaded anew.
ZONE_TEXTS = 20_000
RELOAD_STRINGS = 500_000
# The functions a model folder's config may name (an installed package brings its own copy).
DEFAULT_CODE = Path(__file__).parent / "custom_functions.py"
CODE_MODULE = "scripts.custom_functions"
SHOWN_ERRORS = 5


@dataclass
class Item:
    """One input line: its number (from 1), the record it holds, or why it holds none."""

    number: int
    record: Optional[dict]
    error: Optional[str] = None


# One output line: the JSON line (no newline), the error it reports or None, and the text's tokens.
Result = Tuple[str, Optional[str], int]


class AnnotateError(Exception):
    """What the user asked for cannot be done; the message says why."""


class BadLineError(AnnotateError):
    """--strict met a bad line; the message is `file:line: what was expected`."""


def type_name(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def parse_line(raw: bytes, number: int, source: str, input_format: str) -> Item:
    """The Item for input line `number` (`raw` without its newline), or an Item with the error."""
    where = f"{source}:{number}"
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        raw = raw[3:]
    try:
        line = raw.decode("utf8")
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 1].hex()
        return Item(number, None, f"{where}: expected UTF-8 text, got byte 0x{bad} at byte {err.start + 1} ({err.reason})")
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


def check_text(item: Item, where: str) -> Item:
    text = item.record["text"]
    try:
        text.encode("utf8")
    except UnicodeEncodeError as err:  # a JSON escape such as "\ud800": no character, and no tokenizer takes it
        item.error = f'{where}: expected "text" without lone surrogates, got \\u{ord(text[err.start]):04x} at character {err.start + 1}'
    return item


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
        raise AnnotateError(f"{source} has {skipped} lines, fewer than the {skip} the output kept (--resume): not its output?")
    for number, raw in enumerate(raw_lines, skip + 1):
        yield parse_line(raw, number, source, input_format)


def chunked(items: Iterable[Item], size: int) -> Iterator[List[Item]]:
    iterator = iter(items)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


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


def run_code(source: str, name: str = CODE_MODULE) -> None:
    """Run the source of a file of registered functions (the project's scripts/custom_functions.py, which
    `spacy package --code` ships and a model folder's config may name) as module `name`, once a process.
    It is passed as text, so a Ray worker on another machine needs no copy of the project."""
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__file__ = f"<annotate --code: {name}>"
    sys.modules[name] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise


def load_pipeline(model: str, code: Optional[str] = None, config: Optional[dict] = None):
    import spacy

    if code:
        run_code(code)
    return spacy.load(model, config=config or {})


def sentence_problem(nlp) -> Optional[str]:
    """Why --sentences cannot be given for this pipeline (nothing in it sets sentence starts), or None."""
    setters = [name for name in nlp.pipe_names if "token.is_sent_start" in nlp.get_pipe_meta(name).assigns or name == "parser"]
    if setters:
        return None
    return f"--sentences needs a pipeline component that sets sentence starts (sentencizer, senter, parser); this one has {nlp.pipe_names}"


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc's malloc_trim; elsewhere nothing): after a zone
    frees its strings, glibc would otherwise keep ~100 MB of free fragments counted in the RSS."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        pass


class Annotator:
    """A loaded pipeline that turns chunks of Items into Results, keeping its memory flat.

    The local engine runs one in its process (or one per worker process), the Ray engine one per
    actor, so every engine annotates a chunk the same way. It imports nothing from the project, so a
    Ray worker needs only spaCy and the model.

    Memory over a long stream (scripts/annotate_memory.py measures it): spaCy keeps every new string
    and word it meets, ~2 a short text. So
    - every `zone_texts` texts run in one `nlp.memory_zone()`, which frees what they added; glibc's
      free pages go back to the OS after each;
    - the first `warmup_texts` (default `zone_texts`) texts after loading run outside any zone: their
      words stay in the vocab and the tokenizer's cache, which a zone never fills. Without this every
      word takes the tokenizer's slow path and zones cost ~45% of the throughput;
    - once the zones have freed `reload_strings` strings the pipeline is loaded anew (0.2 s for the
      demo model): the hash tables behind the vocab keep a deleted cell for each string a zone freed
      and double as they fill (~45 bytes a string, +100 MB over 1M short texts), which only a fresh
      vocab drops.
    Zones and reloads change no output: the model and its settings are the same.
    """

    def __init__(
        self, model: str, *, source: str = "input", code: Optional[str] = None, config: Optional[dict] = None, gpu_id: int = -1,
        sentences: bool = False, zone_texts: int = ZONE_TEXTS, warmup_texts: Optional[int] = None, reload_strings: int = RELOAD_STRINGS, threads: int = 0,
    ):
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        if gpu_id >= 0:
            import spacy

            spacy.require_gpu(gpu_id)
        self.model, self.code, self.config = model, code, config
        self.nlp = load_pipeline(model, code, config)
        self.source = source
        self.sentences = sentences
        self.zone_texts = zone_texts
        self.warmup_texts = zone_texts if warmup_texts is None else warmup_texts
        self.reload_strings = reload_strings
        self.texts_since_load = 0
        self.strings_freed = 0  # by the zones since the pipeline was loaded
        self.reloads = 0
        self.texts_in_zone = 0
        self.zone: Optional[ExitStack] = None
        if sentences and sentence_problem(self.nlp):
            raise AnnotateError(sentence_problem(self.nlp))

    def __call__(self, items: List[Item]) -> List[Result]:
        results: List[Optional[Result]] = [None] * len(items)
        todo = []
        for i, item in enumerate(items):
            if item.error is None and len(item.record["text"]) > self.nlp.max_length:
                item.error = (
                    f"{self.source}:{item.number}: expected a text of at most {self.nlp.max_length} characters "
                    f"(the model's nlp.max_length), got {len(item.record['text'])}"
                )
            if item.error is not None:
                results[i] = error_result(item)
            else:
                todo.append(i)
        if not todo:
            return results  # type: ignore[return-value]
        if self.reload_strings > 0 and self.strings_freed >= self.reload_strings:
            self.reload()
        if self.zone is None and self.zone_texts > 0 and self.texts_since_load >= self.warmup_texts:
            self.zone = ExitStack()
            self.zone.enter_context(self.nlp.memory_zone())
        texts = [items[i].record["text"] for i in todo]
        for i, doc in zip(todo, self.nlp.pipe(texts, batch_size=max(len(texts), 1))):
            results[i] = doc_result(items[i].record, doc, self.sentences)
        self.texts_since_load += len(todo)
        if self.zone is not None:
            self.texts_in_zone += len(todo)
            if self.texts_in_zone >= self.zone_texts:
                self.close()
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Leave the memory zone: what the pipeline added while in it is freed."""
        if self.zone is not None:
            before = len(self.nlp.vocab.strings)
            self.zone.close()
            self.zone = None
            self.strings_freed += before - len(self.nlp.vocab.strings)
            release_freed_memory()
        self.texts_in_zone = 0

    def reload(self) -> None:
        self.close()
        max_length = self.nlp.max_length
        self.nlp = None  # the old pipeline goes before the new one comes
        release_freed_memory()
        self.nlp = load_pipeline(self.model, self.code, self.config)
        self.nlp.max_length = max_length
        self.texts_since_load = self.strings_freed = 0
        self.reloads += 1


def local_results(chunks: Iterable[List[Item]], annotator: Annotator) -> Iterator[List[Result]]:
    try:
        for chunk in chunks:
            yield annotator(chunk)
    finally:
        annotator.close()


# --n-process > 1: worker processes, each with its own Annotator, fed chunks in order. Not nlp.pipe's
# n_process: that ships every Doc back serialised (the transformer's output included) and its
# workers' StringStores grow without bound; here only the JSON lines come back.
_WORKER = None  # the worker's Annotator, or what loading it raised


def _start_worker(kwargs: dict) -> None:
    global _WORKER
    try:
        _WORKER = Annotator(**kwargs)
    except Exception as err:  # raised with the first chunk, in the parent: a failing initializer would be restarted forever
        _WORKER = err


def _annotate_in_worker(chunk: List[Item]) -> List[Result]:
    if isinstance(_WORKER, Exception):
        raise _WORKER
    return _WORKER(chunk)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def process_results(chunks: Iterable[List[Item]], n_process: int, annotator_kwargs: dict) -> Iterator[List[Result]]:
    """Chunks annotated by `n_process` worker processes, in order, at most 2 chunks a worker in flight."""
    kwargs = {**annotator_kwargs, "threads": max(1, cpu_count() // n_process)}
    # spawn, not fork: torch's thread pools and CUDA do not survive a fork.
    with multiprocessing.get_context("spawn").Pool(n_process, initializer=_start_worker, initargs=(kwargs,)) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_annotate_in_worker, (chunk,)))
            if len(pending) >= 2 * n_process:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


class RayAnnotator:
    """Ray Data's actor: loads the pipeline once, inside the actor, and annotates the blocks (chunks) it gets."""

    def __init__(self, model: str, source: str, code: Optional[str], config: Optional[dict], gpu: bool, sentences: bool, zone_texts: int):
        self.annotator = Annotator(
            model, source=source, code=code, config=config, gpu_id=0 if gpu else -1, sentences=sentences, zone_texts=zone_texts
        )

    def __call__(self, batch):
        import pyarrow

        records = batch.column("record").to_pylist()
        items = [
            Item(number, None if record is None else json.loads(record), error)
            for number, record, error in zip(batch.column("number").to_pylist(), records, batch.column("error").to_pylist())
        ]
        results = self.annotator(items)
        return pyarrow.table({
            "number": batch.column("number"),
            "line": pyarrow.array([r[0] for r in results], type=pyarrow.string()),
            "error": pyarrow.array([r[1] for r in results], type=pyarrow.string()),
            "words": pyarrow.array([r[2] for r in results], type=pyarrow.int64()),
        })


def chunk_table(chunk: List[Item]):
    """A chunk as an Arrow table, one Ray block: records as ASCII JSON (Arrow strings must be valid UTF-8)."""
    import pyarrow

    return pyarrow.table({
        "number": pyarrow.array([item.number for item in chunk], type=pyarrow.int64()),
        "record": pyarrow.array([None if item.record is None else json.dumps(item.record) for item in chunk], type=pyarrow.string()),
        "error": pyarrow.array([item.error for item in chunk], type=pyarrow.string()),
    })


def ray_results(
    chunks: Iterable[List[Item]], *, n_process: int, gpu: bool, address: Optional[str], annotator_kwargs: dict
) -> Iterator[List[Result]]:
    """Chunks annotated on Ray Data by `n_process` actors (one GPU each with `gpu`), in input order.

    The driver reads and parses the input and puts each chunk in Ray's object store as one block
    (Ray spills to disk what its memory does not hold); map_batches gives each actor whole blocks,
    and the driver writes what comes back in order. Without `address` a local Ray starts on the
    loopback interface, with `n_process` CPUs and no dashboard, and stops at the end.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import logging

    import ray

    # Quiet: the progress bar and the summary are annotate's; an actor's exception still reaches the driver.
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(num_cpus=n_process, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        # The actor class goes to the workers by value: they need spaCy and the model, not this project.
        if __name__ != "__main__":
            ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        refs = [ray.put(chunk_table(chunk)) for chunk in chunks]
        if not refs:
            return
        dataset = ray.data.from_arrow_refs(refs).map_batches(
            RayAnnotator,
            fn_constructor_kwargs={**annotator_kwargs, "gpu": gpu},
            batch_size=None,  # whole blocks: a chunk is annotated as one batch, as the local engine does
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=n_process),
            num_cpus=1,
            num_gpus=1 if gpu else 0,
        )
        for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1):
            yield list(zip(table.column("line").to_pylist(), table.column("error").to_pylist(), table.column("words").to_pylist()))
    finally:
        ray.shutdown()


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


@dataclass
class Summary:
    lines: int = 0  # lines written by this run
    skipped: int = 0  # lines kept from an earlier run (--resume)
    errors: int = 0
    words: int = 0
    seconds: float = 0.0  # from the start of writing (worker start-up and model loading in --n-process and ray included)
    first_chunk_seconds: float = 0.0  # until the first chunk was written
    first_chunk_lines: int = 0
    first_errors: Tuple[str, ...] = ()


def write_results(results: Iterable[List[Result]], stream, summary: Summary, *, strict: bool, total: Optional[int]) -> Summary:
    from tqdm import tqdm

    start = time.perf_counter()
    with tqdm(total=total, initial=summary.skipped, unit=" texts", disable=None, file=sys.stderr, dynamic_ncols=True) as bar:
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


def input_format_of(path: str, given: Optional[str]) -> str:
    if given:
        return given
    if path == "-":
        raise AnnotateError("stdin: say what it holds with --input-format txt or --input-format jsonl")
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise AnnotateError(f"{path}: expected a .txt (a text a line) or .jsonl file, or --input-format txt|jsonl")
    return FORMATS[suffix]


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
    code: Optional[Path] = DEFAULT_CODE,
    config: Optional[dict] = None,
    zone_texts: int = ZONE_TEXTS,
    annotator: Optional[Annotator] = None,
) -> Summary:
    """Write OUTPUT for INPUT (see the module's docstring) and say what was done. `config`: spacy.load's
    overrides. `annotator`: an already loaded one for the local engine with one process (tests; its settings win)."""
    if engine not in ENGINES:
        raise AnnotateError(f"--engine {engine}: expected one of {', '.join(ENGINES)}")
    if batch_size < 1 or n_process < 1:
        raise AnnotateError("--batch-size and --n-process: expected 1 or more")
    if input_path != "-" and not Path(input_path).is_file():
        raise AnnotateError(f"{input_path}: no such file")
    input_format = input_format_of(input_path, input_format)
    source = "<stdin>" if input_path == "-" else input_path
    output_path.parent.mkdir(parents=True, exist_ok=True)
    total = count_lines(input_path)
    summary = Summary(skipped=resume_point(output_path, batch_size, total) if resume else 0)
    chunks = chunked(read_items(input_path, input_format, skip=summary.skipped), batch_size)
    if code and not Path(code).is_file():
        raise AnnotateError(f"--code {code}: no such file")
    code_text = Path(code).read_text(encoding="utf8") if code else None
    kwargs = dict(model=model, source=source, code=code_text, config=config, sentences=sentences, zone_texts=zone_texts)
    if engine == "ray":
        results = ray_results(chunks, n_process=n_process, gpu=gpu_id >= 0, address=ray_address, annotator_kwargs=kwargs)
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


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def main(
    model: str = typer.Argument(..., help="Pipeline: an installed package's name or a folder (e.g. training/model-best)"),
    input_path: str = typer.Argument(..., metavar="INPUT", help=".txt (a text a line) or .jsonl ({\"text\": ...} a line); - for stdin"),
    output_path: Path = typer.Argument(..., metavar="OUTPUT", dir_okay=False, help=".jsonl: a line for every input line, in order"),
    engine: str = typer.Option("local", "--engine", "-e", help="local (this machine, --n-process processes) or ray (Ray Data actors)"),
    batch_size: int = typer.Option(1024, "--batch-size", "-b", help="Input lines a chunk: what one process annotates at a time"),
    n_process: int = typer.Option(1, "--n-process", "-n", help="Processes (local) or actors (ray) annotating at once"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to run on (local); with ray, any id >= 0: one GPU an actor; -1: the CPU"),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad line instead of writing an error line for it"),
    resume: bool = typer.Option(False, "--resume", help="Keep OUTPUT's complete chunks and annotate the rest"),
    sentences: bool = typer.Option(False, "--sentences", help="Also write the sentences' spans (\"sents\")"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="An existing Ray cluster (e.g. ray://head:10001 or auto); default: a local Ray"),
    input_format: Optional[str] = typer.Option(None, "--input-format", help="txt or jsonl; default: from INPUT's suffix"),
    code: Optional[str] = typer.Option(
        None, "--code", help="Python file of functions the model's config names, run before loading it; default: scripts/custom_functions.py; '' for none"
    ),
    precision: Optional[str] = typer.Option(
        None, "--precision", help="Transformer inference precision on a CPU: auto, fp32, bf16 or int8; default: the model's config"
    ),
) -> None:
    from scripts.custom_functions import precision_overrides

    try:
        config = precision_overrides(precision)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    if engine == "local" or not ray_address:
        from scripts.gpu import check_device

        check_device(gpu_id)
    try:
        summary = annotate(
            model, input_path, output_path, engine=engine, batch_size=batch_size, n_process=n_process, gpu_id=gpu_id,
            strict=strict, resume=resume, sentences=sentences, ray_address=ray_address, input_format=input_format,
            code=DEFAULT_CODE if code is None else (Path(code) if code else None), config=config,
        )
    except BadLineError as err:
        msg.fail(str(err), f"--strict: stopped there; {output_path} holds the lines before it", exits=1)
    except AnnotateError as err:
        msg.fail(str(err), exits=1)
    seconds = max(summary.seconds, 1e-9)
    kept = f" after the {summary.skipped} kept from before" if summary.skipped else ""
    msg.good(
        f"Annotated {summary.lines} lines{kept} with {engine}: {output_path} "
        f"({rate(summary.lines / seconds)} texts/s, {rate(summary.words / seconds)} words/s)"
    )
    if summary.errors:
        msg.warn(f"{summary.errors} of {summary.lines} lines could not be annotated: they hold an \"error\" instead of \"ents\", e.g.:")
        for error in summary.first_errors:
            print(f"  {error}")


if __name__ == "__main__":
    typer.run(main)
