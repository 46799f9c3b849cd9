"""The machine a step runs on: its CPU, the CPUs this process may use, and processes' memory.

annotate, serve and the benchmarks read these alike, so their JSON and logs describe a machine the same way.
"""

import ctypes
import os
from pathlib import Path
from typing import List

from scripts.ner_model.hardware import cpu_flags, cpu_kind

# The flags that decide matmul speed, reported with every measurement.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The CPU's model name, family and model (which tell apart two CPUs of one model name, e.g. AMD EPYCs of
    two generations), its kind, and which of CPU_FLAGS it has, read as the pipeline's "auto" precision reads
    them (scripts.ner_model.hardware)."""
    text = cpuinfo.read_text() if cpuinfo.exists() else ""

    def field(name: str) -> str:
        lines = [line.split(":", 1) for line in text.splitlines() if ":" in line]
        return next((value.strip() for key, value in lines if key.strip() == name), "unknown")

    flags = cpu_flags(cpuinfo)
    return {
        "model_name": field("model name"),
        "family": field("cpu family"),
        "model": field("model"),
        "kind": cpu_kind(flags),
        "flags": {flag: flag in flags for flag in CPU_FLAGS},
    }


def describe_cpu() -> str:
    """One line: the CPU's kind (what "auto" precision goes by), name, and which of CPU_FLAGS it has."""
    cpu = cpu_info()
    flags = [flag for flag, present in cpu["flags"].items() if present]
    return f"kind {cpu['kind']}, {cpu['model_name']} ({', '.join(flags) or 'none of ' + ', '.join(cpu['flags'])})"


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def rss_mb(pid: str = "self") -> float:
    """A process's resident set size in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages split between the processes that share them, so a sum over
    processes counts each page once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0.0


def descendants(pid: int) -> List[int]:
    """`pid` and every process below it."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc's malloc_trim; elsewhere nothing): after a memory
    zone frees its strings, glibc would otherwise keep its free fragments counted in the RSS."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        pass
