"""Pick the device a step runs on, and stop with advice instead of a traceback when a GPU is missing."""

from typing import Optional

from wasabi import msg


def gpu_problem(gpu_id: int) -> Optional[str]:
    """Why GPU `gpu_id` cannot be used, or None when it can (or when no GPU is asked for)."""
    if gpu_id < 0:
        return None
    import torch

    if not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        return f"torch {torch.__version__} ({build}) sees no CUDA GPU on this machine"
    if gpu_id >= torch.cuda.device_count():
        return f"there is no GPU {gpu_id}: torch sees {torch.cuda.device_count()}"
    try:
        import cupy  # noqa: F401 -- spaCy's GPU ops need it
    except ImportError:
        return "cupy is not installed: pip install -r requirements-gpu.txt"
    return None


def check_device(gpu_id: int) -> None:
    """Exit 1 saying why GPU `gpu_id` can't be used and how to go on; return when it can (or for -1, the CPU)."""
    problem = gpu_problem(gpu_id)
    if problem:
        msg.fail(
            f"GPU {gpu_id} was asked for, but {problem}.",
            "To go on: run on the CPU with `--vars.gpu_id -1` (python -m spacy project run all . --vars.gpu_id -1), "
            "which is slow for distilbert-base; or try the offline demo on the CPU: python -m spacy project run demo",
            exits=1,
        )


def use_device(gpu_id: int) -> None:
    """Switch spaCy to GPU `gpu_id` (-1: CPU), or exit 1 saying why it can't and how to go on."""
    check_device(gpu_id)
    if gpu_id >= 0:
        import spacy

        spacy.require_gpu(gpu_id)
