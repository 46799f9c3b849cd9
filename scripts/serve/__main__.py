"""`python -m scripts.serve MODEL [--host H] [--port P] [--engine local|ray] [--max-wait-ms MS] ...`

Serves MODEL (an installed package's name or a folder) over HTTP; see scripts/serve/__init__.py and
docs/serving.md. Stops on SIGTERM or Ctrl-C after answering the requests in flight.
"""

import logging
import sys
from pathlib import Path
from typing import Optional

import typer
import uvicorn
from wasabi import msg

from scripts import cli
from scripts.answering.project_code import PROJECT_CODE
from scripts.serve.app import MAX_BODY_BYTES, Metrics, create_app
from scripts.serve.batcher import MicroBatcher, RequestAnnotator, startup_line

ENGINES = ("local", "ray")
log = logging.getLogger("scripts.serve")


def serve_local(
    model: str,
    *,
    host: str,
    port: int,
    code: Optional[str],
    config: dict,
    max_wait_ms: float,
    max_batch_texts: int,
    max_queue_texts: int,
    max_body_bytes: int,
    threads: int,
    graceful_timeout: float,
    access_log: bool,
    log_level: str,
) -> int:
    """Run the service on uvicorn until SIGTERM; 1 if the model failed to load, else 0."""
    settings = dict(max_wait_ms=max_wait_ms, max_batch_texts=max_batch_texts, max_queue_texts=max_queue_texts)

    def load() -> RequestAnnotator:
        annotator = RequestAnnotator(model, code=code, config=config, threads=threads)
        log.info(startup_line(annotator, {**settings, "threads": threads or "torch's default"}))
        return annotator

    metrics = Metrics()
    server: Optional[uvicorn.Server] = None

    def stop(error: BaseException) -> None:
        if server is not None:
            server.should_exit = True

    batcher = MicroBatcher(load, **settings, on_batch=metrics.observe_batch, on_failure=stop)
    app = create_app(batcher, metrics, max_body_bytes=max_body_bytes)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            timeout_graceful_shutdown=graceful_timeout,
        )
    )
    server.run()
    return 1 if batcher.error is not None else 0


def main(
    model: str = typer.Argument(
        ..., help="Pipeline: an installed package's name or a folder (e.g. training/model-best)"
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on; 0.0.0.0 for every one"),
    port: int = typer.Option(8080, "--port", "-p"),
    engine: str = typer.Option(
        "local", "--engine", "-e", help="local (one process, one model thread) or ray (Ray Serve replicas)"
    ),
    max_wait_ms: float = typer.Option(
        0.0,
        "--max-wait-ms",
        help="How long the oldest queued request may wait for batch-mates "
        "(0: a batch is what queued while the model was busy)",
    ),
    max_batch_texts: int = typer.Option(
        32, "--max-batch-texts", help="Texts in one model batch (one nlp.pipe) at most"
    ),
    max_queue_texts: int = typer.Option(
        1024, "--max-queue-texts", help="Texts waiting at most (per replica); beyond: 503 with Retry-After"
    ),
    max_body_bytes: int = typer.Option(MAX_BODY_BYTES, "--max-body-bytes", help="Request bodies over this: 413"),
    threads: int = typer.Option(
        0,
        "--threads",
        help="Threads of the model's matrix products (torch, ONNX Runtime); "
        "0: all cores (ray: split among the replicas)",
    ),
    replicas: int = typer.Option(1, "--replicas", help="ray: model replicas (one process, one CPU each)"),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="ray: an existing cluster (e.g. auto); default: a local Ray on 127.0.0.1"
    ),
    precision: Optional[str] = typer.Option(
        None,
        "--precision",
        help="Transformer inference precision on a CPU: auto, fp32, bf16, int8 or int8-static; "
        "default: the model's config",
    ),
    code: Optional[str] = typer.Option(
        None,
        "--code",
        help="Python file of functions the model's config names, imported (once a process) before loading it; "
        "default: scripts/custom_functions.py, as the module scripts.custom_functions; '' for none",
    ),
    graceful_timeout: float = typer.Option(
        30.0, "--graceful-timeout", help="On SIGTERM, seconds to finish the requests in flight"
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (costs throughput)"),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(message)s")
    if engine not in ENGINES:
        msg.fail(f"--engine {engine}: expected one of {', '.join(ENGINES)}", exits=1)
    if min(max_batch_texts, max_queue_texts, max_body_bytes, replicas) < 1 or max_wait_ms < 0:
        msg.fail(
            "--max-batch-texts, --max-queue-texts, --max-body-bytes and --replicas: expected 1 or more; "
            "--max-wait-ms: 0 or more",
            exits=1,
        )
    config = {}
    if precision is not None:
        # The model's stack comes with this import, which a Ray driver need not load.
        from scripts.ner_model.precision import precision_overrides

        try:
            config = precision_overrides(precision)
        except ValueError as err:
            msg.fail(str(err), exits=1)
    code_path = PROJECT_CODE if code is None else (Path(code) if code else None)
    if code_path and not code_path.is_file():
        msg.fail(f"--code {code_path}: no such file", exits=1)
    knobs = dict(
        host=host,
        port=port,
        code=str(code_path) if code_path else None,
        config=config,
        max_wait_ms=max_wait_ms,
        max_batch_texts=max_batch_texts,
        max_queue_texts=max_queue_texts,
        max_body_bytes=max_body_bytes,
        threads=threads,
        graceful_timeout=graceful_timeout,
    )
    if engine == "ray":
        # Ray Serve is imported for --engine ray only: the local engine runs without it.
        from scripts.serve.ray_engine import serve_ray

        sys.exit(serve_ray(model, replicas=replicas, address=ray_address, **knobs))
    sys.exit(serve_local(model, access_log=access_log, log_level=log_level, **knobs))


if __name__ == "__main__":
    cli.run(main)
