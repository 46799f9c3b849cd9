"""The Annotator: a loaded pipeline that turns chunks of input Items into output lines, keeping memory flat.

Every engine runs Annotators (one in the process, one per worker process, one per Ray actor), so
every engine annotates a chunk the same way. This module imports nothing else from the project but
`lines`, so a Ray worker needs only spaCy and the model (the project's functions come as --code text).
"""
import ctypes
import hashlib
import sys
import types
from contextlib import ExitStack
from pathlib import Path
from typing import List, Optional

from scripts.annotate.lines import AnnotateError, Item, Result, doc_result, error_result

# Texts a memory zone, and strings the zones may free before the pipeline is loaded anew
# (docs/annotate.md, Memory, has what these were measured to cost and save).
ZONE_TEXTS = 20_000
RELOAD_STRINGS = 500_000
# The functions a model folder's config may name (an installed package brings its own copy).
DEFAULT_CODE = Path(__file__).resolve().parent.parent / "custom_functions.py"
PROJECT_CODE_MODULE = "scripts.custom_functions"


def code_module_name(source: str) -> str:
    return f"annotate_code_{hashlib.sha256(source.encode('utf8')).hexdigest()[:16]}"


def project_code_loaded(source: str) -> bool:
    """Whether `source` is the project's scripts/custom_functions.py and that module is imported already."""
    module = sys.modules.get(PROJECT_CODE_MODULE)
    path = Path(getattr(module, "__file__", None) or "")
    return module is not None and path.is_file() and path.read_text(encoding="utf8") == source


def run_code(source: str) -> None:
    """Run the source of a --code file (functions the model's config names, registered with spaCy) once a
    process, as a module named after a digest of the source. It comes as text, so a Ray worker on
    another machine needs no copy of the file. Any file given runs, even where a module of another
    name registered the same functions before (the later registration wins, as with spaCy's --code);
    only the project's own file is not run again where `scripts.custom_functions` is imported, so
    its classes are not made twice."""
    name = code_module_name(source)
    if name in sys.modules or project_code_loaded(source):
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
    frees its strings, glibc would otherwise keep its free fragments counted in the RSS."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        pass


class Annotator:
    """A loaded pipeline that turns chunks of Items into Results, keeping its memory flat.

    spaCy keeps every new string and word it meets, so over a long stream of texts a process grows
    without end. So (docs/annotate.md measures each part):
    - every `zone_texts` texts run in one `nlp.memory_zone()`, which frees what they added; glibc's
      free pages go back to the OS after each;
    - the first `warmup_texts` (default `zone_texts`) texts after loading run outside any zone: their
      words stay in the vocab and the tokenizer's cache, which a zone never fills; without this every
      word takes the tokenizer's slow path and zones cost much of the throughput;
    - once the zones have freed `reload_strings` strings the pipeline is loaded anew: the hash tables
      behind the vocab keep a deleted cell for each string a zone freed, which only a fresh vocab drops.
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
