"""serve --engine ray: the same app on Ray Serve answers as nlp(text) alone, and every socket it opens
listens on the loopback interface only (slow: Ray and a server)."""

import asyncio
import signal
import subprocess
import time

import pytest
from test_serve import start_server

from scripts.machine import descendants

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one local Ray at a time on 2 cores


def listening_addresses(pids: set) -> list:
    """The local addresses of the TCP sockets `pids` listen on, from `ss -ltnp`."""
    output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in output.splitlines() if any(f"pid={pid}," in line for pid in pids)]


def test_ray_engine_answers_as_nlp_alone_on_loopback_only(tiny_pipeline, texts_and_answers):
    from scripts.serve.load_test import send_requests

    process, url, _ = start_server(
        tiny_pipeline,
        "--engine",
        "ray",
        "--replicas",
        "1",
        "--max-wait-ms",
        "20",
        "--graceful-timeout",
        "10",
        timeout=600,
    )
    try:
        texts, answers = texts_and_answers
        figures = asyncio.run(send_requests(url + "/ents", texts, answers, 250, 8, time.monotonic() + 120))
        assert figures["requests"] == 250 and figures["errors"] == 0 and figures["differing_answers"] == 0, figures
        addresses = listening_addresses(set(descendants(process.pid)))
        assert url.split("//")[1] in addresses
        assert addresses and all(
            a.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]") for a in addresses
        ), addresses
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(120) == 0
