"""The CPU's kind and what the precision "auto" means on it.

Every figure behind these choices, with its command and JSON, is in docs/precision.md ("auto" per CPU kind).
"""

import functools
from pathlib import Path

from .runtimes import has_onnxruntime

PRECISIONS = ("auto", "fp32", "bf16", "int8", "int8-static")
TRAINING_PRECISIONS = ("auto", "fp32", "bf16")

# "auto" per CPU kind: the fastest precision that passed the accuracy bar (docs/precision.md#the-accuracy-bar)
# and gives a text the same entities alone or in any batch, on that kind. Kinds not measured run fp32.
AUTO_PRECISION = {"avx2": "int8", "avx512_bf16": "int8", "amx": "int8"}
# training_precision "auto" per CPU kind: bf16 autocast where it was measured faster than fp32 with the same
# dev F1; other kinds train in fp32.
AUTO_TRAINING_PRECISION = {"avx512_bf16": "bf16", "amx": "bf16"}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set:
    """The CPU's feature flags (empty where /proc/cpuinfo is missing): the project's one reader of them."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), "").split())


def cpu_kind(flags: set) -> str:
    """The kinds "auto" tells apart: "amx" (AVX-512 with AMX bf16/int8 tiles), "avx512_bf16" (AVX-512
    with native bf16 dot products and VNNI, no AMX: AMD Zen 4/5, Xeon Cooper Lake), "avx512" (other
    AVX-512), "avx2" (AVX2 without AVX-512), "other"."""
    if {"avx512f", "amx_bf16", "amx_int8"} <= flags:
        return "amx"
    if {"avx512f", "avx512_bf16", "avx512_vnni"} <= flags:
        return "avx512_bf16"
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "other"


@functools.lru_cache(maxsize=None)
def auto_precision() -> str:
    """What "auto" (the default) means on this CPU (AUTO_PRECISION; int8 needs onnxruntime, else fp32)."""
    precision = AUTO_PRECISION.get(cpu_kind(cpu_flags()), "fp32")
    return "fp32" if precision == "int8" and not has_onnxruntime() else precision


def auto_training_precision() -> str:
    """What training_precision "auto" means on this CPU (AUTO_TRAINING_PRECISION)."""
    return AUTO_TRAINING_PRECISION.get(cpu_kind(cpu_flags()), "fp32")


def native_bf16() -> bool:
    """Whether this CPU computes in bf16 itself (AMX or AVX512-BF16) rather than emulating it."""
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})
