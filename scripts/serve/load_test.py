"""Load test over loopback: the batched service against the spaCy template's way, same model, same client.

    python -m scripts.serve.load_test run MODEL --output docs/performance/serve_load.json [--n-requests 1000]
        [--concurrency 1,8,32] [--soak-requests 100000] [--max-seconds 900]
    python -m scripts.serve.load_test plain MODEL --port P   # the template's app alone

`run` tags the texts with nlp(text) alone first (the expected answers, and the direct call's latency),
then starts each server as a subprocess on 127.0.0.1, sends `--n-requests` one-text requests at each
concurrency from an HTTP client (aiohttp, one kept-alive connection a client) and records texts/s, p50/p95/p99
latency, errors and answers that differ from the expected ones; then, with --soak-requests, the
batched server's RSS after 10% of them and after all. Every loop is bounded in count and in time
(--max-seconds), and each server is stopped with SIGTERM at the end.

"plain" is explosion/projects' integrations/fastapi: a plain `def` endpoint calling nlp(text) per
request, which FastAPI runs in its thread pool, on uvicorn.
"""

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import aiohttp
import httpx
import torch
import typer
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from scripts import cli
from scripts.answering.annotator import load_pipeline
from scripts.answering.project_code import PROJECT_CODE
from scripts.answering.records import doc_result
from scripts.machine import cpu_info, rss_mb
from scripts.ner_model.precision import precision_overrides, predicting_precision
from scripts.synthetic_news import generate_texts

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])
HOST = "127.0.0.1"


def answer_of(doc) -> dict:
    """The answer the services give for a Doc: annotate's line for it, without the text."""
    return json.loads(doc_result({}, doc, False)[0])


def plain_app(model: str, precision: Optional[str] = None, threads: int = 0):
    """The template's app: a plain `def` endpoint (run in FastAPI's thread pool) calling nlp(text)."""
    if threads:
        torch.set_num_threads(threads)
    nlp = load_pipeline(model, str(PROJECT_CODE), precision_overrides(precision))
    server = FastAPI(title="nlp(text) per request")

    class Text(BaseModel):
        text: str

    @server.post("/ents")
    def ents(body: Text):
        return answer_of(nlp(body.text))

    @server.get("/health")
    def health():
        return {"status": "ready"}

    return server


@app.command()
def plain(
    model: str,
    port: int = typer.Option(8082, "--port"),
    precision: Optional[str] = typer.Option(None, "--precision"),
    threads: int = typer.Option(0, "--threads"),
) -> None:
    """Serve the template's app on 127.0.0.1:PORT."""
    uvicorn.run(plain_app(model, precision, threads), host=HOST, port=port, log_level="warning", access_log=False)


def percentile(values: List[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else (values[0] if values else float("nan"))
    )


def latency_figures(seconds: List[float]) -> dict:
    return {f"p{q}_ms": 1000 * percentile(seconds, q) for q in (50, 95, 99)}


async def send_requests(
    url: str, texts: List[str], expected: List[dict], n_requests: int, concurrency: int, deadline: float
) -> dict:
    """`n_requests` one-text requests from `concurrency` clients, each on its own kept-alive connection (fewer
    requests if `deadline` passes); request i sends texts[i % len] and is checked against expected[i % len]."""
    latencies: List[float] = []
    errors: Dict[str, int] = {}
    differing = 0
    next_request = 0

    async def client(http: "aiohttp.ClientSession") -> None:
        nonlocal next_request, differing
        while next_request < n_requests and time.monotonic() < deadline:
            i, next_request = next_request, next_request + 1
            start = time.perf_counter()
            try:
                async with http.post(url, json={"text": texts[i % len(texts)]}) as response:
                    status, answer = response.status, await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as err:
                errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
            elif answer != expected[i % len(texts)]:
                differing += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        for text in texts[:concurrency]:  # a first request on each connection, not timed
            async with http.post(url, json={"text": text}) as response:
                await response.read()
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return {
        "concurrency": concurrency,
        "requests": next_request,
        "seconds": seconds,
        "texts_per_s": len(latencies) / seconds,
        **latency_figures(latencies),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "differing_answers": differing,
    }


class Server:
    """A server subprocess on 127.0.0.1:`port`, ready once /health answers 200; SIGTERM when done."""

    def __init__(self, command: List[str], port: int, timeout: float = 600):
        self.url = f"http://{HOST}:{port}"
        self.process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited with {self.process.returncode} before it was ready")
            try:
                if httpx.get(self.url + "/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{' '.join(command)}: not ready after {timeout} s")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@app.command()
def run(
    model: str,
    output: Path = typer.Option(..., "--output", "-o", help="JSON of the figures"),
    n_requests: int = typer.Option(1000, "--n-requests", help="Requests at each concurrency, for each server"),
    n_texts: int = typer.Option(
        1000, "--n-texts", help="Distinct texts (invented news sentences, CoNLL-2003's lengths)"
    ),
    concurrency: str = typer.Option("1,8,32", "--concurrency", help="Clients at once, comma-separated"),
    soak_requests: int = typer.Option(
        0,
        "--soak-requests",
        help="Then the batched server at the top concurrency until it has answered this many texts: "
        "its RSS at 10% of them and at all",
    ),
    port: int = typer.Option(8181, "--port", help="The batched server's port; the plain one's is the next"),
    max_wait_ms: float = typer.Option(0.0, "--max-wait-ms"),
    max_batch_texts: int = typer.Option(32, "--max-batch-texts"),
    precision: Optional[str] = typer.Option(None, "--precision"),
    threads: int = typer.Option(
        0, "--threads", help="Both servers' model threads (serve --threads); 0: torch's default"
    ),
    max_seconds: float = typer.Option(900, "--max-seconds", help="Each load phase stops after this long, done or not"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Both servers under the same load; the JSON has the figures, the ratios and the CPU."""
    levels = [int(c) for c in concurrency.split(",")]
    texts = [" ".join(words) for words in generate_texts(n_texts, seed)]
    nlp = load_pipeline(model, str(PROJECT_CODE), precision_overrides(precision))
    expected, direct = [], []
    for text in texts:
        start = time.perf_counter()
        doc = nlp(text)
        direct.append(time.perf_counter() - start)
        expected.append(answer_of(doc))
    cpu = cpu_info()
    report = {
        "command": "python -m scripts.serve.load_test " + " ".join(sys.argv[1:]),
        "model": model,
        "precision": predicting_precision(nlp),
        "cpu_kind": cpu["kind"],
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "threads": threads or "torch's default",
        "max_wait_ms": max_wait_ms,
        "max_batch_texts": max_batch_texts,
        "n_texts": n_texts,
        "entities_expected": sum(len(a["ents"]) for a in expected),
        "client": "aiohttp, one kept-alive connection a client",
        "direct_nlp_call": latency_figures(direct),
        "servers": {},
    }
    del nlp
    options = (["--precision", precision] if precision else []) + ["--threads", str(threads)]
    commands = {
        "batched": [
            sys.executable,
            "-m",
            "scripts.serve",
            model,
            "--port",
            str(port),
            "--max-wait-ms",
            str(max_wait_ms),
            "--max-batch-texts",
            str(max_batch_texts),
            "--log-level",
            "warning",
            *options,
        ],
        "plain": [sys.executable, "-m", "scripts.serve.load_test", "plain", model, "--port", str(port + 1), *options],
    }
    for name, command in commands.items():
        server = Server(command, port + (name == "plain"))
        try:
            rows = report["servers"][name] = []
            for level in levels:
                before = batch_totals(server.url) if name == "batched" else None
                rows.append(
                    asyncio.run(
                        send_requests(
                            server.url + "/ents", texts, expected, n_requests, level, time.monotonic() + max_seconds
                        )
                    )
                )
                if before:
                    texts_in_batches, batches = (
                        after - first for after, first in zip(batch_totals(server.url), before)
                    )
                    rows[-1]["mean_batch_texts"] = texts_in_batches / max(batches, 1)
                typer.echo(f"{name} x{level}: {json.dumps(rows[-1])}")
            if name == "batched" and soak_requests:
                report["soak"] = soak(server, texts, expected, soak_requests, max(levels), max_seconds)
        finally:
            server.stop()
    batched, plain_rows = report["servers"]["batched"], report["servers"]["plain"]
    report["throughput_ratio_at_top_concurrency"] = batched[-1]["texts_per_s"] / plain_rows[-1]["texts_per_s"]
    report["p99_ms_over_direct_at_concurrency_1"] = batched[0]["p99_ms"] - report["direct_nlp_call"]["p99_ms"]
    report["load_average_after"] = os.getloadavg()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(
        f"x{levels[-1]}: {report['throughput_ratio_at_top_concurrency']:.2f}x the plain endpoint's texts/s; "
        f"p99 at x{levels[0]} "
        f"{report['p99_ms_over_direct_at_concurrency_1']:+.1f} ms over a direct nlp(text); {output}"
    )


def batch_totals(url: str) -> tuple:
    """The batched server's texts in batches and batches so far."""
    return metric_values(url, "ner_batch_texts_sum", "ner_batch_texts_count")


def metric_values(url: str, *names: str) -> tuple:
    """Values of unlabelled metrics from the batched server's /metrics."""
    lines = httpx.get(url + "/metrics").text.splitlines()
    return tuple(float(next(line.split()[1] for line in lines if line.startswith(name + " "))) for name in names)


def soak(
    server: Server, texts: List[str], expected: List[dict], n_requests: int, concurrency: int, max_seconds: float
) -> dict:
    """The server's RSS once it has answered 10% of `n_requests` texts (those before the soak included) and
    once it has answered `n_requests`."""
    url, deadline = server.url + "/ents", time.monotonic() + max_seconds
    served = int(metric_values(server.url, "ner_texts_total")[0])
    first = asyncio.run(send_requests(url, texts, expected, max(0, n_requests // 10 - served), concurrency, deadline))
    rss_first, served_first = rss_mb(server.process.pid), int(metric_values(server.url, "ner_texts_total")[0])
    rest = asyncio.run(send_requests(url, texts, expected, n_requests - served_first, concurrency, deadline))
    rss_all, served_all = rss_mb(server.process.pid), int(metric_values(server.url, "ner_texts_total")[0])
    return {
        "concurrency": concurrency,
        "texts_answered": [served_first, served_all],
        "rss_mb": [rss_first, rss_all],
        "rss_growth_pct": 100 * (rss_all / rss_first - 1),
        "errors": first["errors"] + rest["errors"],
        "differing_answers": first["differing_answers"] + rest["differing_answers"],
        "texts_per_s": rest["texts_per_s"],
    }


if __name__ == "__main__":
    cli.run(app)
