"""The Annotator: a loaded pipeline that turns chunks of Items into answer lines, keeping memory flat.

Every engine runs Annotators (annotate's: one in the process, one per worker process, one per Ray actor;
serve's: one per replica), so every engine answers a text the same way.
"""

from contextlib import ExitStack
from typing import List, Optional

from scripts.answering.project_code import load_code
from scripts.answering.records import Item, Result, doc_result, error_result
from scripts.machine import release_freed_memory

# Texts a memory zone, and strings the zones may free before the pipeline is loaded anew
# (docs/annotate.md, Memory, has what these were measured to cost and save).
ZONE_TEXTS = 20_000
RELOAD_STRINGS = 500_000


class AnswerError(Exception):
    """What was asked of the pipeline cannot be done; the message says why."""


def load_pipeline(model: str, code: Optional[str] = None, config: Optional[dict] = None):
    """spacy.load(model) once `code`'s functions (scripts/answering/project_code.py) are registered."""
    # spaCy is imported where a pipeline loads: a Ray driver imports this module and loads none.
    import spacy

    load_code(code)
    return spacy.load(model, config=config or {})


def sentence_problem(nlp) -> Optional[str]:
    """Why sentences cannot be asked of this pipeline (nothing in it sets sentence starts), or None."""
    setters = [
        name for name in nlp.pipe_names if "token.is_sent_start" in nlp.get_pipe_meta(name).assigns or name == "parser"
    ]
    if setters:
        return None
    return (
        "--sentences needs a pipeline component that sets sentence starts (sentencizer, senter, parser); "
        f"this one has {nlp.pipe_names}"
    )


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
    Zones and reloads change no output: the model and its settings are the same. `code`: the file of
    functions the model's config names (scripts/answering/project_code.py), None for none.
    """

    def __init__(
        self,
        model: str,
        *,
        source: str = "input",
        code: Optional[str] = None,
        config: Optional[dict] = None,
        gpu_id: int = -1,
        sentences: bool = False,
        zone_texts: int = ZONE_TEXTS,
        warmup_texts: Optional[int] = None,
        reload_strings: int = RELOAD_STRINGS,
        threads: int = 0,
    ):
        # torch and spaCy are imported where a pipeline loads: a Ray driver imports this module and loads none.
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
            raise AnswerError(sentence_problem(self.nlp))

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
