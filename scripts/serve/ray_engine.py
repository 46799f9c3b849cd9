"""--engine ray: the same app (scripts/serve/app.py) on Ray Serve replicas.

Each replica builds the app itself (the ingress builder runs in the replica) over a ReplicaEngine:
`@serve.batch` gathers the replica's concurrent texts, up to max_batch_texts or max_wait_ms, and one
thread runs the replica's RequestAnnotator (an Annotator: memory zones) over each batch. Ray Serve
spreads requests over `--replicas` replicas, one CPU each (torch threads split among them), and its
proxy answers 503 when a replica's queue is full (max_queued_requests). Without --ray-address a local
Ray starts on 127.0.0.1 with no dashboard, as annotate's does, its workers importing the project from
this checkout, and Serve's HTTP proxy listens on --host:--port. A cluster's nodes need the project and
the model at the driver's paths (Ray puts the driver's working directory on its workers' path).
"""

import asyncio
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Tuple

import ray
from ray import serve

from scripts.answering.project_code import local_ray_runtime_env
from scripts.machine import cpu_count
from scripts.serve.app import Metrics, create_app
from scripts.serve.batcher import WARMUP_TEXT, NotReady, QueueFull, RequestAnnotator, startup_line

log = logging.getLogger("scripts.serve")
APP_NAME = "ner"


class ReplicaEngine:
    """A replica's engine for the app: `@serve.batch` batches, one thread runs the annotator."""

    def __init__(
        self,
        load: Callable[[], RequestAnnotator],
        *,
        max_wait_ms: float,
        max_batch_texts: int,
        max_queue_texts: int,
        on_batch: Callable[[int, float], None],
    ):
        self.load, self.on_batch = load, on_batch
        self.max_queue_texts = max_queue_texts
        self.annotator: Optional[RequestAnnotator] = None
        self.status = "loading"
        self.queued_texts = 0  # texts taken by this replica and not answered yet
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="pipeline")
        self.tag.set_max_batch_size(max_batch_texts)
        self.tag.set_batch_wait_timeout_s(max_wait_ms / 1000)

    @property
    def info(self) -> dict:
        return self.annotator.info if self.annotator else {}

    def start(self) -> None:
        """Load the annotator and answer the warm-up text before Ray sends the replica any request."""
        self.annotator = self.executor.submit(self.load).result()
        self.executor.submit(self.annotator, [WARMUP_TEXT]).result()
        self.status = "ready"

    def close(self) -> None:
        self.status = "closing"
        self.executor.shutdown(wait=True)

    async def annotate(self, texts: List[str], sentences: bool = False) -> List[dict]:
        if self.status != "ready":
            raise NotReady(f"the model is {self.status}")
        if self.queued_texts + len(texts) > self.max_queue_texts:
            raise QueueFull(
                f"{self.queued_texts} texts are taken by this replica, at most {self.max_queue_texts} may be"
            )
        self.queued_texts += len(texts)
        try:
            answers = await asyncio.gather(*(self.tag((text, sentences)) for text in texts))
        finally:
            self.queued_texts -= len(texts)
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def tag(self, items: List[Tuple[str, bool]]) -> List[object]:
        """One annotator call for the batch; if it raises, each text alone, so only a failing text's request fails."""
        loop = asyncio.get_running_loop()
        texts = [text for text, _ in items]
        sentences = any(wanted for _, wanted in items)
        start = loop.time()
        try:
            answers = await loop.run_in_executor(self.executor, self.annotator, texts, sentences)
        except Exception:
            if len(items) == 1:
                log.exception("A text failed")
                raise
            return [await self._alone(item) for item in items]
        self.on_batch(len(texts), loop.time() - start)
        for (_, wanted), answer in zip(items, answers):
            if not wanted:
                answer.pop("sents", None)
        return answers

    async def _alone(self, item: Tuple[str, bool]) -> object:
        try:
            loop = asyncio.get_running_loop()
            return (await loop.run_in_executor(self.executor, self.annotator, [item[0]], item[1]))[0]
        except Exception as err:
            log.exception("A text failed")
            return err


def deployment(
    model: str,
    *,
    code: Optional[str],
    config: dict,
    max_wait_ms: float,
    max_batch_texts: int,
    max_queue_texts: int,
    max_body_bytes: int,
    threads: int,
):
    """The Serve deployment; each replica builds its app and engine with these settings."""

    def build_app():
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
        settings = dict(max_wait_ms=max_wait_ms, max_batch_texts=max_batch_texts, max_queue_texts=max_queue_texts)

        def load() -> RequestAnnotator:
            annotator = RequestAnnotator(model, code=code, config=config, threads=threads)
            log.info(startup_line(annotator, {**settings, "torch_threads": threads}))
            return annotator

        metrics = Metrics()
        engine = ReplicaEngine(
            load,
            max_wait_ms=max_wait_ms,
            max_batch_texts=max_batch_texts,
            max_queue_texts=max_queue_texts,
            on_batch=metrics.observe_batch,
        )
        return create_app(engine, metrics, max_body_bytes=max_body_bytes)

    @serve.ingress(build_app)
    class NER:
        """A replica: the app built above."""

    return serve.deployment(NER, name="NER")


def serve_ray(
    model: str,
    *,
    host: str,
    port: int,
    replicas: int,
    address: Optional[str],
    code: Optional[str],
    config: dict,
    max_wait_ms: float,
    max_batch_texts: int,
    max_queue_texts: int,
    max_body_bytes: int,
    threads: int,
    graceful_timeout: float,
) -> int:
    """Run the service on Ray Serve until SIGTERM or Ctrl-C, then drain and stop; 0 when it stopped cleanly."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(
            num_cpus=replicas,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            runtime_env=local_ray_runtime_env(),
        )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve.start(
            http_options={"host": host, "port": port},
            logging_config={"log_level": "WARNING", "enable_access_log": False},
        )
        threads = threads or (max(1, cpu_count() // replicas) if not address else 1)
        app = (
            deployment(
                model,
                code=code,
                config=config,
                max_wait_ms=max_wait_ms,
                max_batch_texts=max_batch_texts,
                max_queue_texts=max_queue_texts,
                max_body_bytes=max_body_bytes,
                threads=threads,
            )
            .options(
                num_replicas=replicas,
                ray_actor_options={"num_cpus": 1},
                max_ongoing_requests=4 * max_batch_texts,
                max_queued_requests=max_queue_texts,
                graceful_shutdown_timeout_s=graceful_timeout,
                logging_config={"enable_access_log": False},
            )
            .bind()
        )
        serve.run(app, name=APP_NAME, route_prefix="/")
        log.info(f"Serving {model} on Ray Serve at http://{host}:{port} with {replicas} replicas")
        stop.wait()
        log.info("Stopping: answering the requests in flight")
        serve.delete(APP_NAME)  # waits for the replicas to finish their requests (graceful_timeout at most)
        return 0
    finally:
        ray.shutdown()
