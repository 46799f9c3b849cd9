"""The local engine: a micro-batcher in front of one pipeline that one thread runs.

Requests put their texts in a bounded queue and wait. One worker thread owns the pipeline: it loads it,
answers a warm-up text, then takes queued requests (whole requests, in arrival order) until
`max_batch_texts` texts are in hand or `max_wait_ms` have passed since the oldest arrived, and answers
them with one `nlp.pipe`. The default wait is 0: a batch is then what queued while the model ran the
one before, so a lone request waits for nothing and a busy service still batches (docs/serving.md,
Measured, compares the waits). So the model never runs from two threads at once (thinc's shim is not thread
safe: spaCy issue #11868), and concurrent requests share forward passes, which on a CPU cost far less
per text in a batch than one at a time. The pipeline runs in an Annotator (scripts/answering): memory
zones, a warm-up outside them and reloads now and then keep memory flat over any number of requests,
and each Doc becomes JSON inside its zone.
"""

import asyncio
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Deque, List, Optional

from scripts.answering.annotator import Annotator, sentence_problem
from scripts.answering.records import Item
from scripts.machine import describe_cpu

log = logging.getLogger("scripts.serve")
WARMUP_TEXT = "Warm-up: Reuters reported from London that the European Commission met on Monday."


class QueueFull(Exception):
    """The queue holds as many texts as it may: the client should retry later (503)."""


class NotReady(Exception):
    """The pipeline is still loading, failed to load, or the service is shutting down (503)."""


class RequestAnnotator:
    """The service's Annotator: answers a batch of texts as annotate writes them, minus the text itself:
    {"ents": [{"start", "end", "label", "text"}]} and, on request, "sents": [{"start", "end"}]."""

    def __init__(self, model: str, *, code: Optional[str] = None, config: Optional[dict] = None, **annotator_kwargs):
        # The model's stack is imported where the pipeline loads: the serve driver (Ray's too) imports this
        # module and loads none.
        from scripts.ner_model.precision import predicting_precision

        self.annotator = Annotator(model, source="request", code=code, config=config, **annotator_kwargs)
        nlp = self.annotator.nlp
        self.max_length = nlp.max_length
        self.sentence_problem = sentence_problem(nlp)
        self.info = {
            "model": model,
            "pipeline": nlp.pipe_names,
            "precision": predicting_precision(nlp),
            "max_length": nlp.max_length,
        }

    @property
    def nlp(self):
        return self.annotator.nlp  # the Annotator may load it anew (see its docstring)

    def __call__(self, texts: List[str], sentences: bool = False) -> List[dict]:
        self.annotator.sentences = sentences
        results = self.annotator([Item(number, {"text": text}) for number, text in enumerate(texts, 1)])
        answers = []
        for line, error, _ in results:
            if error is not None:
                raise ValueError(error)
            answer = json.loads(line)
            del answer["text"]
            answers.append(answer)
        return answers


def startup_line(annotator: RequestAnnotator, settings: dict) -> str:
    """What a loaded service logs: the model, its pipeline and precision, the CPU, and `settings`."""
    info = annotator.info
    knobs = ", ".join(f"{key} {value}" for key, value in settings.items())
    return (
        f"Loaded {info['model']}: pipeline {info['pipeline']}, precision {info['precision']} "
        f"on a CPU of {describe_cpu()}; {knobs}"
    )


@dataclass
class Job:
    """One request waiting for its answers."""

    texts: List[str]
    sentences: bool
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Queue and worker thread (see the module's docstring). `load` builds the RequestAnnotator inside the
    worker thread; `on_batch(n_texts, seconds)` is told of every batch; `on_failure(error)` of a
    pipeline that did not load."""

    def __init__(
        self,
        load: Callable[[], RequestAnnotator],
        *,
        max_wait_ms: float = 0.0,
        max_batch_texts: int = 32,
        max_queue_texts: int = 1024,
        on_batch: Callable[[int, float], None] = lambda n, s: None,
        on_failure: Callable[[BaseException], None] = lambda e: None,
    ):
        if max_batch_texts < 1 or max_queue_texts < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_texts and max_queue_texts: expected 1 or more; max_wait_ms: 0 or more")
        self.load, self.on_batch, self.on_failure = load, on_batch, on_failure
        self.max_wait = max_wait_ms / 1000
        self.max_batch_texts, self.max_queue_texts = max_batch_texts, max_queue_texts
        self.annotator: Optional[RequestAnnotator] = None
        self.error: Optional[BaseException] = None  # what loading the annotator raised
        self.ready = threading.Event()  # loaded and answered the warm-up text
        self.closing = False
        self.queued_texts = 0
        self._jobs: Deque[Job] = deque()
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: Optional[float] = None) -> None:
        """Refuse new requests, answer the queued ones, and stop the worker."""
        with self._lock:
            self.closing = True
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def info(self) -> dict:
        return self.annotator.info if self.ready.is_set() else {}

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        if self.closing:
            return "closing"
        return "ready" if self.ready.is_set() else "loading"

    async def annotate(self, texts: List[str], sentences: bool = False) -> List[dict]:
        """The answers for `texts`, from the next batch that takes them."""
        if not self.ready.is_set() or self.closing:
            raise NotReady(f"the model is {self.status}")
        loop = asyncio.get_running_loop()
        job = Job(texts, sentences, loop.create_future(), loop)
        with self._lock:
            if self.queued_texts + len(texts) > self.max_queue_texts:
                raise QueueFull(f"{self.queued_texts} texts are queued, at most {self.max_queue_texts} may be")
            self._jobs.append(job)
            self.queued_texts += len(texts)
            self._lock.notify()
        return await job.future

    def _run(self) -> None:
        try:
            self.annotator = self.load()
            self.annotator([WARMUP_TEXT])
        except BaseException as err:  # reported by /health and on_failure; the thread ends
            log.exception("The pipeline did not load")
            self.error = err
            self.on_failure(err)
            return
        self.ready.set()
        while True:
            jobs = self._next_batch()
            if not jobs:
                return
            self._answer(jobs)

    def _next_batch(self) -> List[Job]:
        """Whole jobs, oldest first, once `max_batch_texts` texts wait or the oldest has waited `max_wait`;
        [] once closing with nothing queued."""
        with self._lock:
            while not self._jobs:
                if self.closing:
                    return []
                self._lock.wait()
            deadline = self._jobs[0].arrived + self.max_wait
            while self.queued_texts < self.max_batch_texts and not self.closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            jobs = [self._jobs.popleft()]
            n_texts = len(jobs[0].texts)
            while self._jobs and n_texts + len(self._jobs[0].texts) <= self.max_batch_texts:
                n_texts += len(self._jobs[0].texts)
                jobs.append(self._jobs.popleft())
            self.queued_texts -= n_texts
            return jobs

    def _answer(self, jobs: List[Job]) -> None:
        """One nlp.pipe for the batch. If it raises, each job runs alone, so only the job that fails gets
        the error (prediction is batch-independent: a job's answers are the same either way)."""
        texts = [text for job in jobs for text in job.texts]
        sentences = any(job.sentences for job in jobs)
        start = time.perf_counter()
        try:
            answers = self.annotator(texts, sentences)
        except Exception as err:
            if len(jobs) == 1:
                log.exception("A request failed")
                _settle(jobs, error=err)
                return
            for job in jobs:
                self._answer([job])
            return
        self.on_batch(len(texts), time.perf_counter() - start)
        per_job, offset = [], 0
        for job in jobs:
            mine = answers[offset : offset + len(job.texts)]
            offset += len(job.texts)
            if sentences and not job.sentences:
                for answer in mine:
                    answer.pop("sents", None)
            per_job.append(mine)
        _settle(jobs, answers=per_job)


def _settle(jobs: List[Job], answers: Optional[List[List[dict]]] = None, error: Optional[BaseException] = None) -> None:
    """Hand each job its answers (or each the error) in its event loop, one wake-up for the batch; a request
    whose client went away is skipped."""

    def settle() -> None:
        for i, job in enumerate(jobs):
            if job.future.done():
                continue
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(answers[i])

    try:
        jobs[0].loop.call_soon_threadsafe(settle)  # the app's one event loop
    except RuntimeError:  # the loop is closed: nobody waits for these answers
        pass
