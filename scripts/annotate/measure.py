"""Measure what `annotate` costs over a long stream: memory and texts/s, with and without memory zones,
and per engine. A measuring tool, not a test (no test imports it): it prints series and tables, and
JSON with --output, which records the CPU's flags (scripts.ner_model.hardware.cpu_flags) and the load average.

    # RSS, strings and texts/s every 10k texts, a fresh process per setting (zone 0: no zones)
    python -m scripts.annotate.measure zones MODEL --n-texts 200000 --zone 0:0:0 --zone 20000
    # the settings' texts/s against the first, interleaved chunk by chunk in one process
    python -m scripts.annotate.measure throughput MODEL --n-texts 100000 --zone 0:0:0 --zone 2000:0:0 --zone 20000
    # texts/s and peak memory of the whole process tree, per engine, on one input
    python -m scripts.annotate.measure engines MODEL --n-texts 20000

The texts are scripts/annotate/texts.py's stream of short invented news texts. docs/annotate.md has
the figures and the commands that gave them.
"""

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from scripts import cli
from scripts.annotate.lines import chunked
from scripts.annotate.run import annotate
from scripts.annotate.texts import stream_texts, write_input
from scripts.answering.annotator import RELOAD_STRINGS, Annotator
from scripts.answering.project_code import PROJECT_CODE
from scripts.answering.records import Item
from scripts.machine import cpu_count, descendants, pss_mb, rss_mb
from scripts.ner_model.hardware import cpu_flags

app = typer.Typer(add_completion=False, help=__doc__)


def zone_series(
    model: str,
    n_texts: int,
    zone_texts: int,
    warmup_texts: Optional[int],
    reload_strings: Optional[int],
    every: int,
    batch_size: int,
    seed: int,
) -> List[Dict]:
    """Annotate `n_texts` in this process with annotate's Annotator: a row every `every` texts."""
    annotator = Annotator(
        model,
        code=str(PROJECT_CODE),
        zone_texts=zone_texts,
        warmup_texts=warmup_texts,
        reload_strings=RELOAD_STRINGS if reload_strings is None else reload_strings,
    )
    items = (Item(i + 1, {"text": text}) for i, text in enumerate(stream_texts(n_texts, seed)))
    rows, done, start = [], 0, time.perf_counter()
    last_time, last_cpu, last_done, peak = start, time.process_time(), 0, rss_mb()
    for chunk in chunked(items, batch_size):
        annotator(chunk)
        done += len(chunk)
        peak = max(peak, rss_mb())
        if done // every > (done - len(chunk)) // every or done == n_texts:
            now, cpu = time.perf_counter(), time.process_time()
            row = {
                "texts": done,
                "rss_mb": round(rss_mb(), 1),
                "peak_mb": round(peak, 1),
                "strings": len(annotator.nlp.vocab.strings),
                "reloads": annotator.reloads,
                "texts_per_s": round((done - last_done) / (now - last_time), 1),
                # per CPU second (all threads): steadier than per second when other work shares the CPUs
                "texts_per_cpu_s": round((done - last_done) / (cpu - last_cpu), 1),
                "seconds": round(now - start, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            last_time, last_cpu, last_done = now, cpu, done
    annotator.close()
    return rows


@app.command("zone-run", hidden=True)
def zone_run(
    model: str,
    n_texts: int = 100_000,
    zone_texts: int = 0,
    warmup_texts: int = -1,
    reload_strings: int = -1,
    every: int = 10_000,
    batch_size: int = 1024,
    seed: int = 0,
) -> None:
    """One series in this process (zones runs each in a fresh one); -1: annotate's default."""
    zone_series(
        model,
        n_texts,
        zone_texts,
        None if warmup_texts < 0 else warmup_texts,
        None if reload_strings < 0 else reload_strings,
        every,
        batch_size,
        seed,
    )


@app.command()
def zones(
    model: str = typer.Argument(..., help="Pipeline: a package name or a folder"),
    n_texts: int = typer.Option(100_000, "--n-texts"),
    settings: List[str] = typer.Option(
        ["0", "2000:0", "20000:0", "20000"],
        "--zone",
        help="ZONE[:WARMUP[:RELOAD]]: texts a memory zone (0: no zones), "
        "texts annotated before the first zone (default: ZONE), "
        "strings the zones free before a reload (default: annotate's; 0: never)",
    ),
    every: int = typer.Option(10_000, "--every", help="A row every this many texts"),
    batch_size: int = typer.Option(1024, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    output: Optional[Path] = typer.Option(None, "--output", help="The series as JSON"),
) -> None:
    """RSS, StringStore size and texts/s along the stream, a fresh process per setting."""
    series = {}
    for setting in settings:
        zone, warmup, reload = (setting.split(":") + ["", ""])[:3]
        msg.info(f"zone {zone}, warm-up {warmup or zone}, reload {reload or 'default'}: {n_texts} texts")
        command = [
            sys.executable,
            "-m",
            "scripts.annotate.measure",
            "zone-run",
            model,
            "--n-texts",
            str(n_texts),
            "--zone-texts",
            zone,
            "--warmup-texts",
            warmup or "-1",
            "--reload-strings",
            reload or "-1",
            "--every",
            str(every),
            "--batch-size",
            str(batch_size),
            "--seed",
            str(seed),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            msg.fail(f"{setting} failed", result.stderr[-3000:], exits=1)
        series[setting] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        for row in series[setting]:
            print(f"  {row}", flush=True)
    rows = []
    for setting, values in series.items():
        steady = values[1:] or values  # the first interval holds the warm-up
        rate = sum(v["texts_per_s"] for v in steady) / len(steady)
        cpu_rate = sum(v["texts_per_cpu_s"] for v in steady) / len(steady)
        rows.append(
            (
                setting,
                f"{rate:,.0f}",
                f"{cpu_rate:,.0f}",
                values[0]["rss_mb"],
                values[-1]["rss_mb"],
                values[-1]["peak_mb"],
                values[-1]["strings"],
            )
        )
    header = (
        "zone[:warm-up[:reload]]",
        "texts/s",
        "texts/CPU s",
        f"RSS MB at {every}",
        f"RSS MB at {n_texts}",
        "peak MB",
        "strings",
    )
    msg.table(rows, header=header, divider=True)
    if output:
        output.write_text(
            json.dumps(
                {"machine": machine(), "command": command_line(), "n_texts": n_texts, "series": series}, indent=1
            )
        )


@app.command()
def throughput(
    model: str = typer.Argument(..., help="Pipeline: a package name or a folder"),
    n_texts: int = typer.Option(100_000, "--n-texts"),
    settings: List[str] = typer.Option(
        ["0:0:0", "2000:0:0", "20000:0:0", "2000", "20000"], "--zone", help="as for zones; the first is the baseline"
    ),
    batch_size: int = typer.Option(1024, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    output: Optional[Path] = typer.Option(None, "--output", help="The table as JSON"),
) -> None:
    """texts/s of each setting relative to the first, measured interleaved in one process: every chunk
    goes through every setting's Annotator in turn (rotating who goes first), so other work on the
    machine slows them all alike. Also checks that the settings write the same lines."""
    code = str(PROJECT_CODE)
    annotators = []
    for setting in settings:
        zone, warmup, reload = (setting.split(":") + ["", ""])[:3]
        annotators.append(
            Annotator(
                model,
                code=code,
                zone_texts=int(zone),
                warmup_texts=int(warmup) if warmup else None,
                **({"reload_strings": int(reload)} if reload else {}),
            )
        )
    wall, cpu = [0.0] * len(settings), [0.0] * len(settings)
    items = (Item(i + 1, {"text": text}) for i, text in enumerate(stream_texts(n_texts, seed)))
    for k, chunk in enumerate(chunked(items, batch_size)):
        results = [None] * len(settings)
        for j in range(len(settings)):
            i = (j + k) % len(settings)
            start, start_cpu = time.perf_counter(), time.process_time()
            results[i] = annotators[i](chunk)
            wall[i] += time.perf_counter() - start
            cpu[i] += time.process_time() - start_cpu
        if any(result != results[0] for result in results):
            msg.fail(f"chunk {k}: the settings wrote different lines", exits=1)
    rows, table = [], {}
    for i, setting in enumerate(settings):
        table[setting] = {
            "texts_per_s": n_texts / wall[i],
            "texts_per_cpu_s": n_texts / cpu[i],
            "cost_pct": 100 * (wall[i] / wall[0] - 1),
            "cpu_cost_pct": 100 * (cpu[i] / cpu[0] - 1),
        }
        rows.append(
            (
                setting,
                f"{n_texts / wall[i]:,.0f}",
                f"{table[setting]['cost_pct']:+.1f}%",
                f"{n_texts / cpu[i]:,.0f}",
                f"{table[setting]['cpu_cost_pct']:+.1f}%",
            )
        )
    msg.table(rows, header=("zone[:warm-up[:reload]]", "texts/s", "vs first", "texts/CPU s", "vs first"), divider=True)
    msg.good(f"{n_texts} texts, the same lines from every setting (load average {os.getloadavg()[0]:.2f})")
    if output:
        output.write_text(
            json.dumps(
                {"machine": machine(), "command": command_line(), "n_texts": n_texts, "settings": table}, indent=1
            )
        )


def command_line() -> str:
    return " ".join(["python -m scripts.annotate.measure", *sys.argv[1:]])


def machine() -> dict:
    """What the figures were measured on: the CPU's flags, the CPUs this process may use, the load average."""
    load_average = [round(x, 2) for x in os.getloadavg()]
    return {"cpu_flags": sorted(cpu_flags()), "cpus": cpu_count(), "load_average": load_average}


def run_sampled(command: List[str], interval: float = 0.25) -> Dict:
    """Run `command`; its wall time and the peak of its process tree's summed PSS (Ray's processes included)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample():
        while process.poll() is None:
            peak[0] = max(peak[0], sum(pss_mb(pid) for pid in descendants(process.pid)))
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.join()
    return {
        "returncode": process.returncode,
        "seconds": time.perf_counter() - start,
        "peak_mb": peak[0],
        "stdout": stdout,
        "stderr": stderr,
    }


@app.command("engine-run", hidden=True)
def engine_run(
    model: str, input_path: str, output_path: Path, engine: str = "local", n_process: int = 1, batch_size: int = 1024
) -> None:
    """One annotate run (engines runs each in a fresh process): its Summary as JSON."""
    summary = annotate(model, input_path, output_path, engine=engine, n_process=n_process, batch_size=batch_size)
    print(json.dumps(asdict(summary)))


@app.command()
def engines(
    model: str = typer.Argument(..., help="Pipeline: a package name or a folder"),
    n_texts: int = typer.Option(20_000, "--n-texts"),
    batch_size: int = typer.Option(1024, "--batch-size"),
    work_dir: Path = typer.Option(Path("/tmp/annotate_engines"), "--work-dir"),
    seed: int = typer.Option(0, "--seed"),
    output: Optional[Path] = typer.Option(None, "--output", help="The table as JSON"),
) -> None:
    """texts/s and peak memory (PSS summed over the process tree) for local with 1 and 2 processes
    and local Ray with 2 actors."""
    work_dir.mkdir(parents=True, exist_ok=True)
    input_path = write_input(work_dir / "input.txt", n_texts, seed)
    runs = {
        "local, 1 process": ["--engine", "local"],
        "local, 2 processes": ["--engine", "local", "--n-process", "2"],
        "ray (local), 2 actors": ["--engine", "ray", "--n-process", "2"],
        "ray (local), 1 actor": ["--engine", "ray", "--n-process", "1"],
    }
    rows, results, outputs = [], {}, {}
    for name, args in runs.items():
        out = work_dir / f"output-{len(results)}.jsonl"
        command = [
            sys.executable,
            "-m",
            "scripts.annotate.measure",
            "engine-run",
            model,
            str(input_path),
            str(out),
            "--batch-size",
            str(batch_size),
            *args,
        ]
        result = run_sampled(command)
        if result["returncode"]:
            msg.fail(f"{name} failed", result["stdout"][-2000:] + result["stderr"][-3000:], exits=1)
        outputs[name] = out.read_bytes()
        summary = json.loads(result["stdout"].strip().splitlines()[-1])
        # Steady: after the first chunk was written, so start-up (processes, Ray, model loading) is left out.
        steady = (summary["lines"] - summary["first_chunk_lines"]) / max(
            summary["seconds"] - summary["first_chunk_seconds"], 1e-9
        )
        results[name] = {
            "command": " ".join(command),
            "wall_s": round(result["seconds"], 1),
            "steady_texts_per_s": round(steady, 1),
            "wall_texts_per_s": round(n_texts / result["seconds"], 1),
            "peak_mb": round(result["peak_mb"]),
        }
        rows.append(
            (
                name,
                f"{steady:,.0f}",
                f"{n_texts / result['seconds']:,.0f}",
                f"{result['seconds']:.1f}",
                f"{result['peak_mb']:,.0f}",
            )
        )
    msg.table(rows, header=("engine", "texts/s (steady)", "texts/s (wall)", "wall s", "peak MB (PSS)"), divider=True)
    same = len(set(outputs.values())) == 1
    (msg.good if same else msg.warn)(
        f"Outputs {'identical' if same else 'differ'} across engines ({n_texts} texts, {os.cpu_count()} CPUs)"
    )
    if output:
        output.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "command": command_line(),
                    "n_texts": n_texts,
                    "identical": same,
                    "runs": results,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    cli.run(app)
