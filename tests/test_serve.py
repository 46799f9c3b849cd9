"""The HTTP service (scripts/serve): the app's validation and the micro-batcher on a stand-in pipeline (fast),
then a real server over loopback on a trained model (slow): exact answers under concurrent load, a full
queue and recovery, health, and a SIGTERM that drains."""

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from scripts.serve.app import Metrics, create_app
from scripts.serve.batcher import MicroBatcher, QueueFull

PROJECT_DIR = Path(__file__).resolve().parent.parent


class FakeAnnotator:
    """Stands in for RequestAnnotator: answers each text with one entity over it, records its calls and
    threads; a text with "boom" in it raises."""

    max_length = 40
    sentence_problem = None
    info = {"model": "fake"}

    def __init__(self):
        self.calls, self.threads = [], set()

    def __call__(self, texts, sentences=False):
        self.calls.append(list(texts))
        self.threads.add(threading.get_ident())
        if any("boom" in text for text in texts):
            raise RuntimeError("boom")
        answers = [{"ents": [{"start": 0, "end": len(text), "label": "X", "text": text}]} for text in texts]
        for answer, text in zip(answers, texts):
            if sentences:
                answer["sents"] = [{"start": 0, "end": len(text)}]
        return answers


def expected(text, sentences=False):
    return FakeAnnotator()([text], sentences)[0]


def batcher(pipeline, **settings) -> MicroBatcher:
    started = MicroBatcher(lambda: pipeline, **settings)
    started.start()
    assert started.ready.wait(10)
    return started


def test_concurrent_requests_share_one_batch_in_one_thread():
    pipeline = FakeAnnotator()
    engine = batcher(pipeline, max_wait_ms=200, max_batch_texts=8)

    async def requests():
        return await asyncio.gather(*(engine.annotate([f"text {i}"]) for i in range(8)))

    answers = asyncio.run(requests())
    engine.close()
    assert answers == [[expected(f"text {i}")] for i in range(8)]
    assert pipeline.calls[1:] == [[f"text {i}" for i in range(8)]]  # after the warm-up text: one call for all 8
    assert len(pipeline.threads) == 1 and threading.get_ident() not in pipeline.threads


def test_full_queue_refuses_then_recovers():
    engine = batcher(FakeAnnotator(), max_wait_ms=300, max_batch_texts=100, max_queue_texts=4)

    async def requests():
        waiting = [asyncio.ensure_future(engine.annotate([f"t{i}"])) for i in range(4)]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await engine.annotate(["one too many"])
        assert [answer for answers in await asyncio.gather(*waiting) for answer in answers] == [
            expected(f"t{i}") for i in range(4)
        ]
        return await engine.annotate(["after"])

    assert asyncio.run(requests()) == [expected("after")]
    engine.close()


def test_a_failing_request_fails_alone_and_sentences_only_where_asked():
    engine = batcher(FakeAnnotator(), max_wait_ms=200)

    async def requests():
        return await asyncio.gather(
            engine.annotate(["a"]),
            engine.annotate(["boom"]),
            engine.annotate(["c"], sentences=True),
            return_exceptions=True,
        )

    first, failed, third = asyncio.run(requests())
    engine.close()
    assert first == [expected("a")] and third == [expected("c", sentences=True)]
    assert isinstance(failed, RuntimeError)


def test_close_answers_what_is_queued():
    engine = batcher(FakeAnnotator(), max_wait_ms=60_000, max_batch_texts=100)

    async def request_then_close():
        waiting = asyncio.ensure_future(engine.annotate(["queued"]))
        await asyncio.sleep(0.05)
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        return await waiting

    assert asyncio.run(request_then_close()) == [expected("queued")]
    assert engine.status == "closing"


def test_a_model_that_fails_to_load_is_reported():
    failures = []
    engine = MicroBatcher(lambda: {}["no such model"], on_failure=failures.append)
    with TestClient(create_app(engine, Metrics())) as test_client:
        engine._thread.join(10)
        health = test_client.get("/health")
        assert health.status_code == 503 and health.json() == {"status": "failed"}
        assert test_client.post("/ents", json={"text": "a"}).status_code == 503
    assert len(failures) == 1 and isinstance(failures[0], KeyError)


@pytest.fixture
def client():
    loaded = threading.Event()
    metrics = Metrics()
    engine = MicroBatcher(
        lambda: (loaded.wait(10), FakeAnnotator())[1], max_wait_ms=1, max_queue_texts=3, on_batch=metrics.observe_batch
    )
    with TestClient(create_app(engine, metrics, max_body_bytes=200)) as test_client:
        test_client.loaded = loaded
        yield test_client


def loaded(client) -> None:
    """Let the stand-in pipeline load, and wait until the service says it is ready."""
    client.loaded.set()
    for _ in range(200):
        if client.get("/health").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(client.get("/health").text)


def test_health_and_requests_wait_for_the_model(client):
    assert client.get("/health").json() == {"status": "loading"}
    refused = client.post("/ents", json={"text": "early"})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    loaded(client)
    assert client.get("/health").json() == {"status": "ready", "model": "fake"}
    assert client.post("/ents", json={"text": "now"}).json() == expected("now")
    assert client.post("/ents", json={"texts": ["a", "b"], "sentences": True}).json() == [
        expected("a", True),
        expected("b", True),
    ]
    assert client.post("/ents", json={"texts": []}).json() == []


@pytest.mark.parametrize(
    "body, loc",
    [
        (b'{"text": "a"', ["body"]),
        (b'["a"]', ["body"]),
        (b'{"text": 5}', ["body", "text"]),
        (b'{"texts": ["a", "b", null]}', ["body", "texts", 2]),
        (b'{"texts": "a"}', ["body", "texts"]),
        (b'{"text": "a", "sentences": "yes"}', ["body", "sentences"]),
        (b'{"text": "a", "txt": "b"}', ["body", "txt"]),
        (b'{"text": "a", "texts": ["b"]}', ["body"]),
        (b"{}", ["body"]),
        (b'{"texts": ["ok", "\\ud800"]}', ["body", "texts", 1]),
    ],
)
def test_bad_requests_get_422_naming_the_field(client, body, loc):
    loaded(client)
    response = client.post("/ents", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize(
    "body, says",
    [
        ({"text": "x" * 41}, "at most 40 characters (the model's nlp.max_length), got 41"),
        ({"texts": ["a"] * 4}, "at most 3 texts"),
        ({"texts": ["a" * 30] * 6}, "at most 200 bytes"),
    ],
)
def test_too_long_gets_413(client, body, says):
    loaded(client)
    response = client.post("/ents", json=body)
    assert response.status_code == 413 and says in response.json()["detail"]


def test_internal_error_is_500_for_that_request_only_and_counted(client):
    loaded(client)
    failed = client.post("/ents", json={"text": "boom"})
    assert failed.status_code == 500 and "RuntimeError: boom" in failed.json()["detail"]
    assert client.post("/ents", json={"text": "fine"}).json() == expected("fine")
    metrics = client.get("/metrics").text
    for line in (
        'ner_requests_total{status="500"} 1.0',
        'ner_requests_total{status="200"} 1.0',
        "ner_texts_total 1.0",
        "ner_queued_texts 0.0",
    ):
        assert line in metrics
    assert "ner_request_seconds_bucket" in metrics and "ner_batch_texts_bucket" in metrics
    assert "/ents" in client.get("/openapi.json").json()["paths"]


# A real server over loopback (slow): one process for the module, on the tiny trained pipeline. It waits up
# to 500 ms for 16 texts, which 16 clients fill at once, so the drain test at the end finds requests waiting.
MAX_BATCH_TEXTS, MAX_QUEUE_TEXTS = 16, 64


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, *options: str, timeout: float = 300):
    """A `python -m scripts.serve` process on 127.0.0.1 and its URL, once /health says ready, with what
    /health answered before."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "scripts.serve",
        str(model),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *options,
    ]
    process = subprocess.Popen(command, cwd=PROJECT_DIR)
    url, before = f"http://127.0.0.1:{port}", []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(url + "/health", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if health.status_code == 200:
                return process, url, before
            before.append(
                (
                    health.status_code,
                    health.json() if health.headers.get("content-type") == "application/json" else health.text,
                )
            )
            time.sleep(0.05)
        raise AssertionError(f"{command}: not ready (exit code {process.poll()})")
    except BaseException:
        process.terminate()  # SIGTERM: a Ray server stops its Ray with it
        process.wait(120)
        raise


@pytest.fixture(scope="module")
def server(tiny_pipeline):
    process, url, before = start_server(
        tiny_pipeline,
        "--max-wait-ms",
        "500",
        "--max-batch-texts",
        str(MAX_BATCH_TEXTS),
        "--max-queue-texts",
        str(MAX_QUEUE_TEXTS),
    )
    yield process, url, before
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.slow
@pytest.mark.xdist_group("serve")  # one server, the SIGTERM test last
def test_health_before_the_model_is_ready_says_loading(server):
    process, url, before = server
    assert all(status == 503 and body == {"status": "loading"} for status, body in before), before
    health = httpx.get(url + "/health").json()
    assert health["status"] == "ready" and health["pipeline"] == ["transformer", "sentencizer", "ner"]


@pytest.mark.slow
@pytest.mark.xdist_group("serve")  # one server, the SIGTERM test last
def test_1000_requests_from_16_clients_answer_as_nlp_alone(server, texts_and_answers):
    from scripts.serve.load_test import send_requests

    process, url, _ = server
    texts, answers = texts_and_answers
    assert sum(len(answer["ents"]) for answer in answers) > 100  # a model that finds entities
    figures = asyncio.run(send_requests(url + "/ents", texts, answers, 1000, 16, time.monotonic() + 120))
    assert figures["requests"] == 1000 and figures["errors"] == 0 and figures["differing_answers"] == 0, figures
    several = httpx.post(url + "/ents", json={"texts": texts[:20]}, timeout=30)
    assert several.json() == answers[:20]
    metrics = httpx.get(url + "/metrics").text
    assert 'ner_requests_total{status="200"}' in metrics
    batches = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("ner_batch_texts_count")))
    assert batches < 500  # 1,000 texts went through in batches, not one by one


@pytest.mark.slow
@pytest.mark.xdist_group("serve")  # one server, the SIGTERM test last
def test_full_queue_answers_503_then_recovers(server, texts_and_answers):
    process, url, _ = server
    texts, answers = texts_and_answers
    body = {
        "texts": texts[:MAX_QUEUE_TEXTS]
    }  # a whole queue's worth: the model works on one, the next waits, the rest find it full

    async def flood():
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.post(url + "/ents", json=body) for _ in range(6)))

    responses = asyncio.run(flood())
    statuses = sorted(response.status_code for response in responses)
    assert 503 in statuses and 200 in statuses and set(statuses) == {200, 503}, statuses
    refused = next(response for response in responses if response.status_code == 503)
    assert refused.headers["Retry-After"] == "1" and "queued" in refused.json()["detail"]
    assert all(response.json() == answers[:MAX_QUEUE_TEXTS] for response in responses if response.status_code == 200)
    too_many = httpx.post(url + "/ents", json={"texts": texts[: MAX_QUEUE_TEXTS + 1]})
    assert too_many.status_code == 413
    assert httpx.post(url + "/ents", json={"text": texts[0]}, timeout=30).json() == answers[0]
    assert httpx.get(url + "/health").status_code == 200


@pytest.mark.slow
@pytest.mark.xdist_group("serve")  # one server, the SIGTERM test last
def test_sigterm_answers_requests_in_flight_then_refuses_and_exits(server, texts_and_answers):
    process, url, _ = server
    texts, answers = texts_and_answers

    async def queued_texts(client) -> float:
        metrics = (await client.get(url + "/metrics")).text
        return float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("ner_queued_texts ")))

    async def requests_then_sigterm():
        async with httpx.AsyncClient(timeout=60) as client:
            waiting = [asyncio.ensure_future(client.post(url + "/ents", json={"text": text})) for text in texts[:4]]
            deadline = time.monotonic() + 10
            while await queued_texts(client) < 4:  # fewer than 16 texts: they wait for batch-mates (500 ms)
                assert time.monotonic() < deadline, "the 4 requests were never queued together"
                await asyncio.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            return await asyncio.gather(*waiting)

    responses = asyncio.run(requests_then_sigterm())
    assert [response.status_code for response in responses] == [200] * 4
    assert [response.json() for response in responses] == answers[:4]
    assert (
        process.wait(30) == -signal.SIGTERM
    )  # uvicorn raises the signal again once it has drained, so the exit says why
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + "/ents", json={"text": "after"})
