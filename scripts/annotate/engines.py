"""Engines: where the chunks are annotated. Each yields the chunks' Results in input order.

- local, one process: an Annotator here;
- local, --n-process > 1: worker processes, each with its own Annotator, fed chunks in order. Not
  nlp.pipe's n_process: that ships every Doc back serialised (the transformer's output included) and
  its workers' StringStores grow without bound; here only the JSON lines come back;
- ray: Ray Data actors, each with its own Annotator, on a local Ray or a cluster.
"""

import json
import logging
import multiprocessing
import os
from collections import deque
from typing import Iterable, Iterator, List, Optional

from scripts.answering.annotator import Annotator
from scripts.answering.project_code import PROJECT_MODULE, is_project_code, local_ray_runtime_env
from scripts.answering.records import Item, Result
from scripts.machine import cpu_count

ENGINES = ("local", "ray")


def local_results(chunks: Iterable[List[Item]], annotator: Annotator) -> Iterator[List[Result]]:
    try:
        for chunk in chunks:
            yield annotator(chunk)
    finally:
        annotator.close()


_WORKER = None  # a worker process's Annotator, or what loading it raised


def _start_worker(kwargs: dict) -> None:
    global _WORKER
    try:
        _WORKER = Annotator(**kwargs)
    except (
        Exception
    ) as err:  # raised with the first chunk, in the parent: a failing initializer would be restarted forever
        _WORKER = err


def _annotate_in_worker(chunk: List[Item]) -> List[Result]:
    if isinstance(_WORKER, Exception):
        raise _WORKER
    return _WORKER(chunk)


def worker_context(code: Optional[str]):
    """forkserver where the OS has it: one server process imports the stack once (and the project's functions
    when `code` is the project's file) and forks each worker from it, so no worker imports torch,
    transformers and spaCy again. Nothing in the server has started torch's thread pools or CUDA, which do
    not survive a fork (so no plain fork). spawn elsewhere (Windows). The server starts once a process:
    what the first call preloads stays."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    preload = ["spacy", "spacy_transformers", "scripts.answering.annotator"]
    context.set_forkserver_preload(preload + ([PROJECT_MODULE] if is_project_code(code) else []))
    return context


def process_results(chunks: Iterable[List[Item]], n_process: int, annotator_kwargs: dict) -> Iterator[List[Result]]:
    """Chunks annotated by `n_process` worker processes, in order, at most 2 chunks a worker in flight."""
    kwargs = {**annotator_kwargs, "threads": max(1, cpu_count() // n_process)}
    with worker_context(kwargs.get("code")).Pool(n_process, initializer=_start_worker, initargs=(kwargs,)) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_annotate_in_worker, (chunk,)))
            if len(pending) >= 2 * n_process:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# Ray and pyarrow are imported by the functions that use them: the local engines run without them.
class RayAnnotator:
    """Ray Data's actor: loads the pipeline once, inside the actor, and annotates the blocks (chunks) it gets."""

    def __init__(
        self,
        model: str,
        source: str,
        code: Optional[str],
        config: Optional[dict],
        gpu: bool,
        sentences: bool,
        zone_texts: int,
    ):
        self.annotator = Annotator(
            model,
            source=source,
            code=code,
            config=config,
            gpu_id=0 if gpu else -1,
            sentences=sentences,
            zone_texts=zone_texts,
        )

    def __call__(self, batch):
        import pyarrow

        records = batch.column("record").to_pylist()
        items = [
            Item(number, None if record is None else json.loads(record), error)
            for number, record, error in zip(
                batch.column("number").to_pylist(), records, batch.column("error").to_pylist()
            )
        ]
        results = self.annotator(items)
        return pyarrow.table(
            {
                "number": batch.column("number"),
                "line": pyarrow.array([r[0] for r in results], type=pyarrow.string()),
                "error": pyarrow.array([r[1] for r in results], type=pyarrow.string()),
                "words": pyarrow.array([r[2] for r in results], type=pyarrow.int64()),
            }
        )


def chunk_table(chunk: List[Item]):
    """A chunk as an Arrow table, one Ray block: records as ASCII JSON (Arrow strings must be valid UTF-8)."""
    import pyarrow

    return pyarrow.table(
        {
            "number": pyarrow.array([item.number for item in chunk], type=pyarrow.int64()),
            "record": pyarrow.array(
                [None if item.record is None else json.dumps(item.record) for item in chunk], type=pyarrow.string()
            ),
            "error": pyarrow.array([item.error for item in chunk], type=pyarrow.string()),
        }
    )


def ray_results(
    chunks: Iterable[List[Item]], *, n_process: int, gpu: bool, address: Optional[str], annotator_kwargs: dict
) -> Iterator[List[Result]]:
    """Chunks annotated on Ray Data by `n_process` actors (one GPU each with `gpu`), in input order.

    The driver reads and parses the input and puts each chunk in Ray's object store as one block
    (Ray spills to disk what its memory does not hold); map_batches gives each actor whole blocks,
    and the driver writes what comes back in order. Without `address` a local Ray starts on the
    loopback interface, with `n_process` CPUs and no dashboard, and stops at the end; its workers import
    the project from this checkout. A cluster's nodes need the project, the model and any --code file at
    the driver's paths (Ray puts the driver's working directory on its workers' path).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    # Quiet: the progress bar and the summary are annotate's; an actor's exception still reaches the driver.
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(
            num_cpus=n_process,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env=local_ray_runtime_env(),
            **quiet,
        )
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
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
            yield list(
                zip(
                    table.column("line").to_pylist(),
                    table.column("error").to_pylist(),
                    table.column("words").to_pylist(),
                )
            )
    finally:
        ray.shutdown()
