"""The HTTP API, the same for every engine: POST /ents, GET /health, GET /metrics, and OpenAPI at /docs.

An engine is what answers texts: the local MicroBatcher (scripts/serve/batcher.py) or a Ray Serve
replica's (scripts/serve/ray_engine.py). It has `status` ("loading", "ready", "failed", "closing"),
`annotator` (its RequestAnnotator once loaded, for max_length and sentence_problem), `queued_texts`, and
`async annotate(texts, sentences)`, which raises QueueFull or NotReady when it cannot take them.
"""

import json
import logging
import time
from contextlib import asynccontextmanager
from typing import List, Optional, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scripts.answering.records import Item, check_text
from scripts.serve.batcher import NotReady, QueueFull

log = logging.getLogger("scripts.serve")
MAX_BODY_BYTES = 1_000_000
RETRY_AFTER_S = 1


class EntsRequest(BaseModel):
    """One text or a list of them; strict: a number is not a text."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: Optional[str] = Field(None, description="One text; the answer is one object")
    texts: Optional[List[str]] = Field(
        None, description="Several texts; the answer is a list, one object a text, in order"
    )
    sentences: bool = Field(False, description='Also answer the sentences\' spans ("sents")')

    @model_validator(mode="after")
    def one_of_text_or_texts(self):
        if (self.text is None) == (self.texts is None):
            raise ValueError('expected "text" (a string) or "texts" (a list of strings), one of them')
        return self


class Entity(BaseModel):
    start: int = Field(description="Offset of its first character in the text (Python's count)")
    end: int = Field(description="Offset after its last character")
    label: str
    text: str


class Span(BaseModel):
    start: int
    end: int


class TextAnswer(BaseModel):
    """What `annotate` writes for a text, without the text."""

    ents: List[Entity]
    sents: Optional[List[Span]] = Field(None, description='With "sentences": true only')


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (several apps may live in one process)."""

    def __init__(self, registry: Optional[CollectorRegistry] = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("ner_requests", "POST /ents requests by HTTP status", ["status"], registry=r)
        self.texts = Counter("ner_texts", "Texts answered", registry=r)
        self.latency = Histogram(
            "ner_request_seconds",
            "POST /ents latency, from the request's body read to its answer",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_texts = Histogram(
            "ner_batch_texts",
            "Texts per model batch (one nlp.pipe)",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        )
        self.batch_seconds = Histogram(
            "ner_batch_seconds",
            "Seconds per model batch",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.queued = Gauge("ner_queued_texts", "Texts waiting for a batch", registry=r)

    def observe_batch(self, n_texts: int, seconds: float) -> None:
        self.batch_texts.observe(n_texts)
        self.batch_seconds.observe(seconds)


class Refused(Exception):
    """A request answered with an error status: `detail` says what was expected."""

    def __init__(self, status: int, detail, retry_after: Optional[int] = None):
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else None


def invalid(loc: list, message: str) -> Refused:
    return Refused(422, [{"loc": ["body", *loc], "msg": message, "type": "value_error"}])


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, or 413 as soon as it is over `max_bytes` (before reading it, when Content-Length says so)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Refused(413, f"expected a body of at most {max_bytes} bytes, got {declared} (Content-Length)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Refused(413, f"expected a body of at most {max_bytes} bytes, got more")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(body: bytes, max_length: int, max_texts: int) -> EntsRequest:
    """The request, or 422 naming the field at fault, or 413 for a text over `max_length` or too many texts."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise invalid([], f"expected a JSON object, got invalid JSON ({err})")
    try:
        request = EntsRequest.model_validate(value)
    except ValidationError as err:
        raise Refused(
            422,
            [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in err.errors(include_url=False)],
        )
    texts = request.texts if request.texts is not None else [request.text]
    field = "texts" if request.texts is not None else "text"
    if len(texts) > max_texts:
        raise Refused(413, f'"texts": expected at most {max_texts} texts (the queue\'s size), got {len(texts)}')
    for i, text in enumerate(texts):
        where = f"body.{field}" + (f"[{i}]" if request.texts is not None else "")
        problem = check_text(Item(i + 1, {"text": text}), where).error
        if problem:
            raise invalid([field, i] if request.texts is not None else [field], problem)
        if len(text) > max_length:
            raise Refused(
                413,
                f"{where}: expected a text of at most {max_length} characters (the model's nlp.max_length), got "
                f"{len(text)}",
            )
    return request


def create_app(
    engine, metrics: Metrics, *, max_body_bytes: int = MAX_BODY_BYTES, manage_engine: bool = True, title: str = "NER"
) -> FastAPI:
    """The app over `engine`; with `manage_engine` its lifespan starts the engine and closes it (after
    uvicorn has answered the requests in flight, on SIGTERM)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if manage_engine:
            engine.start()
        yield
        if manage_engine:
            engine.close()

    app = FastAPI(
        title=title,
        description="Named entities of texts, as `annotate` writes them, batched across requests.",
        lifespan=lifespan,
    )
    metrics.queued.set_function(lambda: engine.queued_texts)

    async def answer(request: Request) -> Union[dict, list]:
        if engine.status != "ready":
            raise Refused(503, f"the model is {engine.status}", retry_after=RETRY_AFTER_S)
        body = await read_body(request, max_body_bytes)
        annotator = engine.annotator
        parsed = parse_request(body, annotator.max_length, engine.max_queue_texts)
        if parsed.sentences and annotator.sentence_problem:
            raise invalid(["sentences"], annotator.sentence_problem)
        texts = parsed.texts if parsed.texts is not None else [parsed.text]
        try:
            answers = await engine.annotate(texts, parsed.sentences)
        except (QueueFull, NotReady) as err:
            raise Refused(503, str(err), retry_after=RETRY_AFTER_S)
        metrics.texts.inc(len(texts))
        return answers if parsed.texts is not None else answers[0]

    @app.post(
        "/ents",
        response_model=Union[TextAnswer, List[TextAnswer]],
        response_model_exclude_none=True,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EntsRequest.model_json_schema()}},
            }
        },
        responses={
            413: {"description": "Body or a text too long"},
            422: {"description": "Not a valid request: the field is named"},
            503: {"description": "Queue full or model not ready: retry after Retry-After seconds"},
        },
    )
    async def ents(request: Request):
        """The entities of `text` (one object) or of each of `texts` (a list), as `annotate` writes them."""
        start, status = time.perf_counter(), 500
        try:
            response = JSONResponse(await answer(request))
            status = 200
        except Refused as err:
            status = err.status
            response = JSONResponse({"detail": err.detail}, status_code=err.status, headers=err.headers)
        except Exception as err:  # this request only: the service goes on
            log.exception("POST /ents failed")
            response = JSONResponse({"detail": f"internal error: {type(err).__name__}: {err}"}, status_code=500)
        finally:
            metrics.requests.labels(str(status)).inc()
            metrics.latency.observe(time.perf_counter() - start)
        return response

    @app.get("/health")
    async def health():
        """200 once the model is loaded and has answered a warm-up text; 503 while loading, closing, or if it failed."""
        body = {"status": engine.status, **getattr(engine, "info", {})}
        return JSONResponse(body, status_code=200 if engine.status == "ready" else 503)

    @app.get("/metrics")
    async def prometheus_metrics():
        """Requests by status, texts, batch sizes and seconds, queued texts, latency: Prometheus' text format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
