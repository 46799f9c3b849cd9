"""The ceiling: the model's matmul FLOPs per word, and the fastest matmul this machine does.

The GEMM probe keeps to its time budget, and leaves out a dtype the CPU has no native kernels for
(bf16 without avx512_bf16 or amx_bf16 runs emulated, many times slower, and is no ceiling), saying so.
On a CPU it also times int8 (u8 x s8 -> s32), with the kernel the pipeline's int8 path runs: ONNX
Runtime's MatMulInteger (the MLAS GEMM its dynamically quantized MatMuls use) when onnxruntime is
installed, else torch._int_mm. On an AVX2-only CPU int8 is the fastest matmul there is, so a ceiling
of fp32 alone would flatter an int8 pipeline.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

from scripts.conll import HF_LABELS
from scripts.ner_model.hardware import native_bf16
from scripts.ner_model.runtimes import import_onnxruntime

IOB_LABELS = list(HF_LABELS)  # the notebook's label list


@dataclass
class Shape:
    """distilbert-base-uncased by default."""

    dim: int = 768
    n_layers: int = 6
    n_heads: int = 12
    hidden_dim: int = 3072
    vocab_size: int = 30522

    @classmethod
    def of_model(cls, model_dir: Path) -> "Shape":
        """The shape of the DistilBERT saved in `model_dir` (its config.json)."""
        import srsly

        config = srsly.read_json(Path(model_dir) / "config.json")
        return cls(config["dim"], config["n_layers"], config["n_heads"], config["hidden_dim"], config["vocab_size"])


def flops_per_sequence(n_pieces: int, shape: Shape, n_labels: int = len(IOB_LABELS)) -> int:
    """Forward FLOPs of DistilBERT plus a token-classification head on one sequence of `n_pieces` (CLS, SEP included).

    Per layer, L = n_pieces, d = dim, h = hidden_dim (a multiply-add counts 2):
      Q, K, V and output projections   4 * 2*L*d*d
      feed-forward, two matmuls        2 * 2*L*d*h
      attention scores QK^T and A.V    2 * 2*L*L*d
    plus the classifier 2*L*d*n_labels. Embedding lookups, softmax, layer norms and GELU are not
    counted (no matmul), so the ceiling is a little optimistic, as a ceiling should be.
    Training is counted as 3x forward (backward needs the gradients of inputs and of weights).
    """
    L, d, h = n_pieces, shape.dim, shape.hidden_dim
    per_layer = 8 * L * d * d + 4 * L * d * h + 4 * L * L * d
    return shape.n_layers * per_layer + 2 * L * d * n_labels


def sync(gpu: bool) -> None:
    if gpu:
        import torch

        torch.cuda.synchronize()


def gemm_rates(
    shape: Shape, batch_size: int, gpu: bool, seconds: float = 1.0
) -> Tuple[Dict[str, float], Dict[str, str]]:
    """Best measured matmul FLOP/s per dtype, on the model's own GEMM shapes and a large square one,
    within about `seconds` in all; and the dtypes skipped, with why."""
    import torch

    skipped = {}
    if gpu:
        dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    else:
        dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
        if not native_bf16():
            del dtypes["bf16"]
            skipped["bf16"] = (
                "no native bf16 on this CPU (neither avx512_bf16 nor amx_bf16): emulated, it is no ceiling"
            )
    device = "cuda" if gpu else "cpu"
    rows = max(64, batch_size * 24)  # about the pieces in one batch
    shapes = [(rows, shape.dim, shape.hidden_dim), (rows, shape.hidden_dim, shape.dim), (2048, 2048, 2048)]
    budget = seconds / (len(dtypes) * len(shapes))
    rates = {}
    for name, dtype in dtypes.items():
        best = 0.0
        for m, k, n in shapes:
            a = torch.randn(m, k, device=device).to(dtype)
            b = torch.randn(k, n, device=device).to(dtype)
            torch.matmul(a, b)  # warm-up
            sync(gpu)
            calls, start = 0, time.perf_counter()
            while calls == 0 or time.perf_counter() - start < budget:
                torch.matmul(a, b)
                calls += 1
                if gpu and calls % 10 == 0:
                    sync(True)
            sync(gpu)
            best = max(best, 2 * m * k * n * calls / (time.perf_counter() - start))
        rates[name] = best
    if not gpu:
        try:
            rates["int8"] = _int8_rate(shapes, budget)
        except Exception as error:  # no kernel for it here: say so rather than fail the benchmark
            skipped["int8"] = f"int8 GEMM unavailable: {error}"
    return rates, skipped


def _int8_rate(shapes, budget: float) -> float:
    """Best u8 x s8 -> s32 matmul OPS/s over `shapes`, in ONNX Runtime if installed, else torch._int_mm."""
    import numpy

    run = _ort_int8_matmul() or _torch_int8_matmul()
    best = 0.0
    for m, k, n in shapes:
        a = numpy.random.randint(0, 255, size=(m, k)).astype(numpy.uint8)
        b = numpy.random.randint(-127, 127, size=(k, n)).astype(numpy.int8)
        run(a, b)  # warm-up
        calls, start = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - start < budget:
            run(a, b)
            calls += 1
        best = max(best, 2 * m * k * n * calls / (time.perf_counter() - start))
    return best


def _ort_int8_matmul():
    """A one-node ONNX Runtime session running MatMulInteger on the caller's threads setting;
    None without onnxruntime."""
    try:
        onnxruntime = import_onnxruntime()
        from onnx import TensorProto, helper
    except ImportError:
        return None
    import torch

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
        "int8_gemm",
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, [None, None]),
            helper.make_tensor_value_info("b", TensorProto.INT8, [None, None]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [None, None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda a, b: session.run(None, {"a": a, "b": b})


def _torch_int8_matmul():
    import torch

    def run(a, b):  # torch._int_mm takes s8 x s8
        return torch._int_mm(torch.from_numpy(a.view("int8")), torch.from_numpy(b))

    return run
