"""The functions the training config names, registered with spaCy; `spacy package --code` ships them.

The corpus reader gives the pipeline gold tokens, whole Docs and gold sentence starts.

spaCy's own Corpus either keeps document context but leaves the predicted Doc without sentence
starts, or (`gold_preproc`) keeps sentences but cuts every Doc into them. With the starts kept, the
transition-based NER cannot open or continue an entity across a sentence boundary, so what the
model predicts is scored the same by spaCy (per Doc) and by seqeval or conlleval (per sentence).
Training, the dev scores during training, evaluate and crosscheck all read Docs this way.

One file of about 700 lines, in four sections (corpus reader, optimizer, precision and CPU kind,
the shim and architectures), because `spacy train --code` and `spacy package --code` take one file.
"""
import copy
import functools
import importlib.util
import itertools
import os
import sys
import threading
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy_transformers.layers._util import replace_listener_cfg
from spacy_transformers.layers.hf_shim import HFShim
from thinc.api import Optimizer


def with_gold_sentence_starts(example: Example) -> Example:
    """The Example with the reference's sentence starts copied onto its predicted Doc (through the
    alignment, so a predicted Doc tokenized otherwise gets them too); nothing else is added."""
    predicted = example.predicted
    aligned = example.get_aligned("SENT_START")
    sent_starts = [i == 0 or value == 1 for i, value in enumerate(aligned)]
    words = [token.text for token in predicted]
    spaces = [bool(token.whitespace_) for token in predicted]
    return Example(Doc(predicted.vocab, words=words, spaces=spaces, sent_starts=sent_starts), example.reference)


class GoldSentencesCorpus(Corpus):
    """spaCy's Corpus (limit, shuffle, augmenter, max_length as there), whose Examples carry the gold
    sentence starts on their predicted side."""

    def __call__(self, nlp: Language) -> Iterator[Example]:
        for example in super().__call__(nlp):
            yield with_gold_sentence_starts(example)


@spacy.registry.readers("ner_distilbert.GoldSentencesCorpus.v1")
def create_gold_sentences_corpus(
    path: Optional[Path], *, limit: int = 0, max_length: int = 0, shuffle: bool = False, augmenter: Optional[Callable] = None
) -> GoldSentencesCorpus:
    """spacy.Corpus.v1's settings but gold_preproc: Docs stay whole, as the DocBin holds them."""
    if path is None or not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such DocBin: expected the output of the corpus step (python -m scripts.corpus)")
    return GoldSentencesCorpus(path, limit=limit, max_length=max_length, shuffle=shuffle, augmenter=augmenter)


class TorchAdam(Optimizer):
    """thinc's Adam with decoupled weight decay, updating CPU parameters with torch's fused AdamW kernel.

    thinc updates each parameter with a single-threaded loop plus separate NumPy passes for weight
    decay and zeroing; for a 66M-parameter transformer on a CPU that was a third of each training
    step (python -m scripts.benchmark). torch's fused kernel does it in one multi-threaded pass. GPU
    (CuPy) parameters, and settings the kernel does not cover, take thinc's own path. The bias
    correction differs from thinc's only in where eps is added.
    """

    __slots__ = ()

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        if (
            not isinstance(weights, numpy.ndarray)
            or gradient.size < 1
            or self.use_radam
            or self.averages is not None
            or not self.L2_is_weight_decay
            or not (self.b1 > 0.0 and self.b2 > 0.0)
        ):
            return super().__call__(key, weights, gradient, lr_scale=lr_scale)
        import torch
        from torch.optim.adam import adam

        self.nr_update[key] += 1
        param, grad = torch.from_numpy(weights), torch.from_numpy(gradient)
        if self.grad_clip:  # per parameter, as thinc clips
            norm = float(torch.linalg.vector_norm(grad))
            if norm >= self.grad_clip:
                grad.mul_(self.grad_clip / norm)
        if key not in self.mom1:
            self.mom1[key], self.mom2[key] = torch.zeros_like(param), torch.zeros_like(param)
        steps_done = torch.tensor(float(self.nr_update[key] - 1))  # the kernel counts this step itself
        adam(
            [param], [grad], [self.mom1[key]], [self.mom2[key]], [], [steps_done],
            fused=True, decoupled_weight_decay=True, amsgrad=False, maximize=False,
            beta1=self.b1, beta2=self.b2, lr=self.learn_rate * lr_scale, weight_decay=self.L2, eps=self.eps,
        )
        grad.zero_()
        return weights, gradient


@spacy.registry.optimizers("ner_distilbert.TorchAdam.v1")
def create_torch_adam(
    learn_rate, *, L2=0.01, beta1=0.9, beta2=0.999, eps=1e-8, grad_clip=1.0, L2_is_weight_decay: bool = True, use_averages: bool = False
) -> Optimizer:
    """Adam.v1's settings; schedules work as for Adam.v1."""
    return TorchAdam(
        learn_rate, L2=L2, beta1=beta1, beta2=beta2, eps=eps, grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages, use_radam=False,
    )


@spacy.registry.schedules("ner_distilbert.warmup_linear.v1")
def create_warmup_linear(initial_rate: float, total_steps: int, warmup_fraction: float = 0.1):
    """thinc's warmup_linear.v1 with its warm-up a share of `total_steps`, so that it scales with the run:
    the train step (scripts/train.py) sets total_steps to the steps of the configured epochs."""
    from thinc.api import warmup_linear

    if total_steps < 1 or not 0 <= warmup_fraction < 1:
        raise ValueError(f"ner_distilbert.warmup_linear.v1: expected total_steps >= 1 and 0 <= warmup_fraction < 1, got {total_steps} and {warmup_fraction}")
    return warmup_linear(initial_rate, round(warmup_fraction * total_steps), total_steps)


# CPU kind and what "auto" runs on it --------------------------------------------------------------
# Prediction may run another copy of the transformer than training: training (begin_update) always
# runs and updates the torch module; predictions run an inference copy built from its current
# weights, lazily, at the next prediction (spacy-transformers loads the weights in from_disk or
# initialize, after this architecture is built). Every figure behind these choices, with its command
# and JSON, is in docs/precision.md.

PRECISIONS = ("auto", "fp32", "bf16", "int8", "int8-static")
TRAINING_PRECISIONS = ("auto", "fp32", "bf16")

# "auto" per CPU kind: the fastest precision that passed the accuracy bar (tag agreement >= 99.5%,
# test F1 within 0.3 of fp32) and gives a text the same entities alone or in any batch, on that kind.
# Kinds not measured run fp32.
AUTO_PRECISION = {"avx2": "int8", "avx512_bf16": "int8", "amx": "int8"}
# training_precision "auto" per CPU kind: bf16 autocast where it was measured faster than fp32 with the same
# dev F1 (AMX: 1.91x, AVX512-BF16: 2.67x, the demo's dev F1 unchanged on both); other kinds train in fp32.
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
    return "fp32" if precision == "int8" and not _has_onnxruntime() else precision


def auto_training_precision() -> str:
    """What training_precision "auto" means on this CPU (AUTO_TRAINING_PRECISION)."""
    return AUTO_TRAINING_PRECISION.get(cpu_kind(cpu_flags()), "fp32")


def native_bf16() -> bool:
    """Whether this CPU computes in bf16 itself (AMX or AVX512-BF16) rather than emulating it."""
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


# The packaged model requires ONNX Runtime for its int8 copy (scripts/package.py): a range, as spaCy's own
# packages require; requirements.txt pins a version inside it (tests/test_precision.py checks).
INT8_REQUIREMENTS = ("onnxruntime>=1.17.0,<2.0.0",)


def _has_onnxruntime() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def _has_openvino() -> bool:
    return importlib.util.find_spec("openvino") is not None


# A model loaded in an app sends nothing anywhere: both runtimes are imported with their usage telemetry off.
def import_onnxruntime():
    """onnxruntime with its telemetry off unless the environment already says otherwise (ORT_DISABLE_TELEMETRY):
    the 1.32 tested here keeps a device id and a queue of usage events for Microsoft's collector under
    ~/.cache/Microsoft on Linux. It reads the setting when it is first imported."""
    if "onnxruntime" not in sys.modules:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def import_openvino():
    """openvino without its model converter: openvino's __init__ imports the converter if it can, and that
    import sends usage telemetry (a forked process, a client id written under ~/intel), which a model
    loaded in an app must not do. The runtime needs no converter; a later import of it works as usual."""
    if "openvino" not in sys.modules:
        sys.modules["openvino.tools.ovc"] = None  # an import of it raises ImportError, which openvino catches
        try:
            import openvino  # noqa: F401
        finally:
            del sys.modules["openvino.tools.ovc"]
    return sys.modules["openvino"]


# "int8-static" runs a copy calibrated on training text (calibrate_int8_static) in OpenVINO, which reads
# static int8 graphs but not the per-row one; not a package requirement: no CPU kind's "auto" chooses it.
STATIC_INT8_REQUIREMENT = "openvino>=2025.0"


# Inference copies ----------------------------------------------------------------------------------

def _eval_twin(module):
    """A second module tree over the very same parameter and buffer tensors, in eval mode for good.

    thinc's PyTorchShim.predict switches the shared module to eval() and back to train(), so a
    prediction in one thread could run while another had switched dropout back on (spaCy #11868).
    The twin needs no switch; the optimizer's updates reach it, since the tensors are the same."""
    shared = {id(tensor): tensor for tensor in itertools.chain(module.parameters(), module.buffers())}
    return copy.deepcopy(module, shared).eval()


def fp32_runner(module, mixed_precision: bool):
    import torch

    twin = _eval_twin(module)

    def run(kwargs):
        with torch.no_grad(), torch.autocast(device_type="cuda", enabled=mixed_precision):
            return twin(**kwargs)

    return run


def _wrap_output(last_hidden_state):
    from transformers.modeling_outputs import BaseModelOutput

    return BaseModelOutput(last_hidden_state=last_hidden_state)


def bf16_runner(module):
    """bf16 weights (a copy, in eval mode), fp32 out: thinc and the NER see fp32 as always."""
    import torch

    copied = copy.deepcopy(module).to(torch.bfloat16).eval()

    def run(kwargs):
        with torch.inference_mode():
            return _wrap_output(copied(**kwargs).last_hidden_state.float())

    return run


def quantize_rows(model):
    """The fp32 ONNX graph with each MatMul by a constant weight made int8, activations quantized per row.

    ONNX Runtime's dynamic quantization takes one activation scale for the whole batch (padding
    included), so a text's entities changed with its batch-mates (7 of 1,000 sentences). Here every
    row (one word piece of one text) gets its own scale, so a text's result does not depend on what
    else is in the batch. Weights: int8 per output column, symmetric. Activations: symmetric per row,
    stored as 64 + round(x / scale) in 1..127 (absmax / 63 a step): 7 bits, because AVX2 without VNNI
    adds pairs of uint8 x int8 products in int16, which a full byte can overflow (2 x 255 x 127).
    With the zero point a constant (64), each MatMul is one fused MatMulIntegerToFloat (uint8 x int8
    in, fp32 times the weights' scales out) and one multiplication by the rows' scales; the row
    quantization is a fused QuantizeLinear along the rows. Per-row zero points (each row's min to max)
    cost five elementwise passes more per MatMul (docs/precision.md has the measurements).

    The attention's query, key and value projections (three MatMuls reading one input) stay in fp32:
    their input is a LayerNorm's output, where a pretrained encoder keeps a few dimensions far larger
    than the rest, and rounding the other dimensions to 63 steps of that range moved the attention
    enough to change other tags than fp32's beyond the accuracy bar on a real encoder (docs/precision.md)."""
    import numpy
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    nodes, constants, quantized = [], [], set()

    def constant(name, value):
        constants.append(numpy_helper.from_array(numpy.asarray(value), name))
        return name

    def node(op, inputs, output=None, **attributes):
        output = output or f"rows/{len(nodes)}/{op}"
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    one, steps, tiny = constant("rows/1", numpy.float32(1)), constant("rows/63", numpy.float32(63)), constant("rows/tiny", numpy.float32(1e-12))
    middle, middles = constant("rows/64", numpy.uint8(64)), constant("rows/[64]", numpy.array([64], dtype=numpy.uint8))
    index_0, index_1, index_last, to_end = (constant(f"rows/[{i}]", numpy.array([i], dtype=numpy.int64)) for i in (0, 1, -1, 2**62))
    quantized_inputs = {}  # an activation read by several MatMuls (attention's q, k and v) is quantized once

    def quantize(x):
        """x as (rows, depth) uint8, each row's scale as a column, and x's shape."""
        if x not in quantized_inputs:
            shape = node("Shape", [x])
            rows = node("Reshape", [x, node("Concat", [index_last, node("Slice", [shape, index_last, to_end])], axis=0)])
            high = node("Max", [node("ReduceMax", [rows], axes=[1], keepdims=0), node("Neg", [node("ReduceMin", [rows], axes=[1], keepdims=0)])])
            scale = node("Max", [node("Div", [high, steps]), tiny])
            x_q = node("QuantizeLinear", [rows, scale, node("Expand", [middles, node("Shape", [scale])])], axis=0)
            quantized_inputs[x] = (x_q, node("Unsqueeze", [scale, index_1]), shape)
        return quantized_inputs[x]

    def by_weight(n):
        return n.op_type == "MatMul" and n.input[1] in weights and len(weights[n.input[1]].dims) == 2

    readers = Counter(n.input[0] for n in graph.node if by_weight(n))
    for original in graph.node:
        weight = weights[original.input[1]] if by_weight(original) and readers[original.input[0]] < 3 else None
        if weight is None:
            nodes.append(original)
            continue
        quantized.add(weight.name)
        w = numpy_helper.to_array(weight).astype(numpy.float32)
        w_scale = numpy.maximum(numpy.abs(w).max(axis=0), 1e-12) / 127.0
        w_q = numpy.clip(numpy.round(w / w_scale), -127, 127).astype(numpy.int8)
        x_q, row_scale, shape = quantize(original.input[0])
        product = node(
            "MatMulIntegerToFloat", [x_q, constant(f"{weight.name}/q", w_q), one, constant(f"{weight.name}/scale", w_scale.astype(numpy.float32)), middle],
            domain="com.microsoft",
        )
        out_shape = node("Concat", [node("Slice", [shape, index_0, index_last]), constant(f"{weight.name}/columns", numpy.array([w.shape[1]], dtype=numpy.int64))], axis=0)
        node("Reshape", [node("Mul", [product, row_scale]), out_shape], original.output[0])
    read = {name for n in nodes for name in n.input}  # a weight that another node reads too (DeBERTa's shared keys) stays
    kept = [init for init in graph.initializer if init.name not in quantized or init.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept + constants)
    del graph.node[:]
    graph.node.extend(nodes)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def _onnx_bytes(module, example_kwargs) -> bytes:
    """The module's eval twin exported to ONNX in fp32, batch and length dynamic."""
    import io

    import torch

    names = list(example_kwargs)
    axes = {name: {0: "batch", 1: "pieces"} for name in [*names, "last_hidden_state"]}
    exported = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants in HF's mask code: shapes stay dynamic
        torch.onnx.export(
            _eval_twin(module), (), exported, kwargs=dict(example_kwargs), input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    return exported.getvalue()


def int8_model_bytes(module, example_kwargs) -> bytes:
    """The module exported to ONNX and quantized by `quantize_rows`: the same weights give the same bytes."""
    import onnx

    model = quantize_rows(onnx.load_from_string(_onnx_bytes(module, example_kwargs)))
    model.ir_version = 8  # opset 17's IR version: older ONNX Runtime releases in INT8_REQUIREMENTS read it
    return model.SerializeToString()


def static_int8_model_bytes(module, calibration: list) -> bytes:
    """The module exported to ONNX and quantized by ONNX Runtime's `quantize_static`: weights per output
    column in 7 bits (reduce_range: AVX2 without VNNI adds pairs of uint8 x int8 products in int16, which
    8-bit weights can overflow), int8 activations, symmetric, with scales fixed by the range each MatMul's
    input took on `calibration` (the transformer's inputs, dicts of arrays, on training text); OpenVINO
    ran uint8 ones with a zero point 14% slower on batch shapes seen before and paid 2.3x as much for
    new ones (docs/precision.md). Fixed scales cannot depend on batch-mates; text unlike the calibration
    text may be clipped (the accuracy bar measures it)."""
    import logging
    import tempfile

    import onnx
    import torch

    import_onnxruntime()
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self, graph_inputs):  # the exporter drops inputs a model ignores (DeBERTa's token types)
            self.batches = ({name: batch[name] for name in graph_inputs} for batch in calibration)

        def get_next(self):
            return next(self.batches, None)

    example = {name: torch.from_numpy(value) for name, value in calibration[0].items()}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, static = Path(tmp, "fp32.onnx"), Path(tmp, "static.onnx")
        fp32.write_bytes(_onnx_bytes(module, example))
        graph_inputs = [graph_input.name for graph_input in onnx.load(str(fp32), load_external_data=False).graph.input]
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process the graph, at every call
        try:
            quantize_static(
                str(fp32), str(static), Batches(graph_inputs), quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], calibrate_method=CalibrationMethod.MinMax,
                extra_options={"MatMulConstBOnly": True, "ActivationSymmetric": True}, reduce_range=True,
            )
        finally:
            logging.getLogger().setLevel(quiet)
        return static.read_bytes()


def onnx_int8_session(model_bytes: bytes, profile_prefix: str = ""):
    """An ONNX Runtime session on torch's thread count (its sessions may run from any thread); with
    `profile_prefix`, it profiles its kernels into files of that prefix (benchmark.forward)."""
    import torch

    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _onnx_int8_runner(model_bytes: bytes):
    """The int8 copy run by ONNX Runtime."""
    import torch

    session = onnx_int8_session(model_bytes)
    names = [graph_input.name for graph_input in session.get_inputs()]

    def run(kwargs):
        feed = {name: kwargs[name].cpu().numpy() for name in names}
        return _wrap_output(torch.from_numpy(session.run(None, feed)[0]))

    return run


def openvino_runner(model_bytes: bytes):
    """The static int8 copy run by OpenVINO, on torch's thread count; each thread gets its own infer request
    (one request serves one call at a time)."""
    import torch

    core = import_openvino().Core()
    compiled = core.compile_model(core.read_model(model_bytes), "CPU", {"INFERENCE_NUM_THREADS": torch.get_num_threads()})
    names = [port.get_any_name() for port in compiled.inputs]
    per_thread = threading.local()

    def run(kwargs):
        if not hasattr(per_thread, "request"):
            per_thread.request = compiled.create_infer_request()
        output = per_thread.request.infer({name: kwargs[name].cpu().numpy() for name in names})[compiled.outputs[0]]
        return _wrap_output(torch.from_numpy(numpy.array(output)))  # a copy: the request reuses its buffer

    return run


# The shim and the architectures ----------------------------------------------------------------------

_BUILDING = threading.Lock()  # one lock for all shims: they are deep-copied, and a lock cannot be
# where to_bytes keeps the ONNX copies, beside spacy-transformers' keys
COPY_KEYS = {"int8": "ner_distilbert_int8", "int8-static": "ner_distilbert_int8_static"}


class PrecisionShim(HFShim):
    """spacy-transformers' HFShim whose predictions run an inference copy (fp32, bf16, int8 or int8-static)
    and never switch the training module between train and eval; training may run in bf16 autocast (by
    default on AMX and AVX512-BF16 CPUs). A pipeline that has been updated in this process predicts in
    fp32: training evaluates in the precision it trains in, and exports nothing."""

    def __init__(self, hf_model, *, inference_precision: str, training_precision: str, fp32_only: bool, mixed_precision: bool, grad_scaler_config: dict):
        super().__init__(hf_model, mixed_precision=mixed_precision, grad_scaler_config=dict(grad_scaler_config))
        self.inference_precision = inference_precision
        self.training_precision = training_precision
        self.fp32_only = fp32_only  # the copies give the last hidden state only
        self.updated = False
        self.onnx_copies = {}  # precision -> (the torch module it was made from, the ONNX bytes): kept by to_bytes
        self._inference = None  # (the torch module, precision, runner)

    def resolved_precision(self) -> str:
        if self.device.type != "cpu" or self.fp32_only or self.updated:
            return "fp32"  # GPUs run fp32 (or mixed precision, as the config says)
        precision = auto_precision() if self.inference_precision == "auto" else self.inference_precision
        if precision == "int8" and not _has_onnxruntime():
            raise ImportError(f'inference_precision "int8" runs the transformer in ONNX Runtime: pip install "{INT8_REQUIREMENTS[0]}"')
        if precision == "int8-static":
            if not _has_openvino():
                raise ImportError(f'inference_precision "int8-static" runs the transformer in OpenVINO: pip install "{STATIC_INT8_REQUIREMENT}"')
            if self.onnx_copy("int8-static") is None:
                raise ValueError(
                    'inference_precision "int8-static": this pipeline holds no copy calibrated for its current weights; '
                    "python -m scripts.package makes one inside the package (--calibration-docs), "
                    "custom_functions.calibrate_int8_static(nlp, texts) in memory"
                )
        return precision

    def resolved_training_precision(self) -> str:
        """bf16 autocast on a CPU where asked, or with "auto" on the CPU kinds AUTO_TRAINING_PRECISION names;
        fp32 otherwise (a GPU trains as mixed_precision says)."""
        if self.device.type != "cpu":
            return "fp32"
        return auto_training_precision() if self.training_precision == "auto" else self.training_precision

    def predict(self, inputs):
        return self._runner(self.resolved_precision(), inputs.kwargs)(inputs.kwargs)

    def _runner(self, precision: str, kwargs):
        built = self._inference
        if built is None or built[0] is not self._model or built[1] != precision:
            with _BUILDING:
                built = self._inference
                if built is None or built[0] is not self._model or built[1] != precision:
                    if precision == "int8":
                        runner = self._copy_runner(precision, lambda: _onnx_int8_runner(self.int8_bytes(kwargs)))
                    elif precision == "int8-static":
                        runner = self._copy_runner(precision, lambda: openvino_runner(self.onnx_copy("int8-static")))
                    else:
                        runner = bf16_runner(self._model) if precision == "bf16" else fp32_runner(self._model, self._mixed_precision)
                    built = self._inference = (self._model, precision, runner)
        return built[2]

    def _copy_runner(self, precision: str, make: Callable):
        """`make()`'s runner of an exported copy, or an error that names the transformer's family, the
        precision its graph cannot run in and the ones that run any family."""
        try:
            return make()
        except Exception as err:  # the exporter, ONNX Runtime and OpenVINO each raise their own kinds; chained below
            family = getattr(getattr(self._model, "config", None), "model_type", type(self._model).__name__)
            reason = [line for line in str(err).splitlines() if line.strip()][-1:] or [type(err).__name__]
            raise ValueError(
                f'inference_precision "{precision}": the {family} transformer\'s exported graph does not run ({reason[0].strip()}); '
                f'"fp32" and "bf16" run every family: spacy.load(..., config={{"components.transformer.model.inference_precision": "bf16"}})'
            ) from err

    def onnx_copy(self, precision: str) -> Optional[bytes]:
        """The `precision` copy of the current weights, if one was made or loaded."""
        made_from, model_bytes = self.onnx_copies.get(precision, (None, None))
        return model_bytes if made_from is self._model else None

    def int8_bytes(self, example_kwargs) -> bytes:
        """The int8 copy of the current weights: the one the package brought, else made now (seconds)."""
        if self.onnx_copy("int8") is None:
            self.onnx_copies["int8"] = (self._model, int8_model_bytes(self._model, example_kwargs))
        return self.onnx_copies["int8"][1]

    def begin_update(self, inputs):
        import torch

        self.updated, self._inference, self.onnx_copies = True, None, {}  # the weights are about to change
        bf16 = self.resolved_training_precision() == "bf16"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output, backprop = super().begin_update(inputs)
        if bf16:  # thinc and the NER read fp32; autograd carries the gradient back through the casts
            _outputs_to_fp32(output)
        return output, backprop

    def to_device(self, device_type: str, device_id: int):
        self._inference = None  # buffers move to new tensors; the twin would keep the old ones
        return super().to_device(device_type, device_id)

    def to_bytes(self):
        data = super().to_bytes()
        copies = {COPY_KEYS[precision]: self.onnx_copy(precision) for precision in COPY_KEYS if self.onnx_copy(precision)}
        return srsly.msgpack_dumps({**srsly.msgpack_loads(data), **copies}) if copies else data

    def from_bytes(self, bytes_data):
        super().from_bytes(bytes_data)  # it reads its own keys and leaves ours
        saved = srsly.msgpack_loads(bytes_data)
        self.onnx_copies = {precision: (self._model, saved[key]) for precision, key in COPY_KEYS.items() if saved.get(key)}
        self._inference, self.updated = None, False
        return self

    def __getstate__(self):  # copies and pickles leave the inference copy behind (an ONNX session pickles not)
        return {**self.__dict__, "_inference": None}


def _outputs_to_fp32(output) -> None:
    """Every bf16 tensor of a transformer's output (a ModelOutput) cast to fp32 in place: spacy-transformers
    hands each of them to thinc, which has no bf16 (BERT, RoBERTa and XLM-R add `pooler_output` to
    `last_hidden_state`; `output_hidden_states` adds a tuple)."""
    import torch

    def fp32(value):
        if isinstance(value, tuple):
            return tuple(fp32(item) for item in value)
        return value.float() if torch.is_tensor(value) and value.dtype == torch.bfloat16 else value

    for key, value in output.items():
        output[key] = fp32(value)


def _shim(nlp: Language):
    return nlp.get_pipe("transformer").model.layers[0].shims[0]


def predicting_precision(nlp: Language) -> str:
    """The precision `nlp`'s transformer predicts in now ("fp32" for any other transformer architecture).
    Read by duck typing: an installed package imports its own copy of this module."""
    shim = _shim(nlp)
    return shim.resolved_precision() if hasattr(shim, "resolved_precision") else "fp32"


def keep_int8_copy(nlp: Language) -> bool:
    """Make the int8 copy of `nlp`'s transformer now, so that nlp.to_disk stores it with the weights
    and a package predicts in int8 without exporting anything (scripts/package.py). False where
    ONNX Runtime is missing, the transformer is not this project's architecture, or it predicts in
    fp32 whatever the setting (on a GPU, after an update)."""
    shim = _shim(nlp)
    if not hasattr(shim, "int8_bytes") or not _has_onnxruntime():
        return False
    precision, shim.inference_precision = shim.inference_precision, "int8"
    try:  # one prediction in int8, so that the copy is made from the inputs spacy-transformers gives it
        nlp("Anna Adler of Northwind Bank visited Lisbon.")
    finally:
        shim.inference_precision = precision
    return shim.onnx_copy("int8") is not None


def calibrate_int8_static(nlp: Language, texts: Iterable) -> int:
    """Make the "int8-static" copy of `nlp`'s transformer, its activation scales fixed by what the
    transformer sees on `texts` (strings or Docs: training text, as the package step passes), so that
    nlp.to_disk stores it; returns the number of forward batches calibrated on. It takes seconds to a
    minute (distilbert-base, 512 sentences: about 12 s on 2 cores)."""
    shim = _shim(nlp)
    if not hasattr(shim, "onnx_copies") or not _has_onnxruntime():
        raise ValueError(f"calibrate_int8_static: needs this project's transformer architecture and onnxruntime ({INT8_REQUIREMENTS[0]})")
    batches = []

    def recording(inputs):  # the inputs spacy-transformers gives the transformer, run in fp32
        batches.append({name: value.cpu().numpy() for name, value in inputs.kwargs.items()})
        return type(shim).predict(shim, inputs)  # the class's: an installed package has its own copy

    precision, shim.inference_precision, shim.predict = shim.inference_precision, "fp32", recording
    try:
        for _ in nlp.pipe(texts):
            pass
    finally:
        shim.inference_precision = precision
        del shim.predict
    if not batches:
        raise ValueError("calibrate_int8_static: no text to calibrate on")
    model_bytes = static_int8_model_bytes(shim._model, batches)
    # Compiled once here, so that a family OpenVINO cannot run (DeBERTa-v2/v3: an `If` of dynamic rank) is
    # refused when the copy is made (the package step), not at a prediction after the wheel is installed.
    shim._copy_runner("int8-static", lambda: openvino_runner(model_bytes))
    shim.onnx_copies["int8-static"] = (shim._model, model_bytes)
    shim._inference = None
    return len(batches)


def precision_overrides(precision: Optional[str]) -> dict:
    """spacy.load's config overrides that run the transformer's predictions in `precision` (None: as the
    pipeline's config says). The architecture is set too, so pipelines trained before it existed
    (spacy-transformers.TransformerModel.v3, the same model) take the setting as well."""
    if precision is None:
        return {}
    if precision not in PRECISIONS:
        raise ValueError(f"--precision {precision!r}: expected one of {PRECISIONS}")
    return {
        "components.transformer.model.@architectures": "ner_distilbert.TransformerModel.v1",
        "components.transformer.model.inference_precision": precision,
    }


def _replace_listener_cfg(tok2vec_model_cfg: dict, listener_model_cfg: dict) -> dict:
    """spacy-transformers' replace_listener_cfg, pointing at this file's Tok2VecTransformer, which takes
    the precision settings (spacy-transformers' v3 rejects them)."""
    result = replace_listener_cfg(tok2vec_model_cfg, listener_model_cfg)
    if result["@architectures"] == "spacy-transformers.Tok2VecTransformer.v3":
        result["@architectures"] = "ner_distilbert.Tok2VecTransformer.v1"
    return result


@spacy.registry.architectures("ner_distilbert.TransformerModel.v1")
def create_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    inference_precision: str = "auto",
    training_precision: str = "auto",
):
    """spacy-transformers.TransformerModel.v3 with a PrecisionShim: predictions on a CPU run in
    `inference_precision`: "fp32", "bf16" (a bf16 copy of the weights, fp32 out), "int8" (ONNX Runtime,
    int8 weights, activations quantized per row), "int8-static" (OpenVINO, activation scales calibrated on
    training text: calibrate_int8_static) or "auto" (this CPU kind's measured choice,
    AUTO_PRECISION); training on a CPU runs the transformer in `training_precision`: "fp32", "bf16"
    (autocast) or "auto" (AUTO_TRAINING_PRECISION: bf16 on AMX and AVX512-BF16 CPUs)."""
    from spacy_transformers.data_classes import HFObjects
    from spacy_transformers.layers.transformer_model import TransformerModel

    if inference_precision not in PRECISIONS:
        raise ValueError(f"inference_precision {inference_precision!r}: expected one of {PRECISIONS}")
    if training_precision not in TRAINING_PRECISIONS:
        raise ValueError(f"training_precision {training_precision!r}: expected one of {TRAINING_PRECISIONS}")
    model = TransformerModel(name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config)
    model.layers[0].shims[0] = PrecisionShim(
        HFObjects(None, None, None, tokenizer_config, transformer_config),
        inference_precision=inference_precision, training_precision=training_precision,
        fp32_only=bool(transformer_config.get("output_hidden_states") or transformer_config.get("output_attentions")),
        mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config,
    )
    model.attrs.update(inference_precision=inference_precision, replace_listener_cfg=_replace_listener_cfg)
    model.init = functools.partial(_init_in_fp32, model.init)
    return model


@spacy.registry.architectures("ner_distilbert.Tok2VecTransformer.v1")
def create_tok2vec_transformer(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict,
    pooling,
    grad_factor: float = 1.0,
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    inference_precision: str = "auto",
    training_precision: str = "auto",
):
    """spacy-transformers.Tok2VecTransformer.v3 over TransformerModel.v1: what `nlp.replace_listeners`
    makes of a component that listened to this project's transformer."""
    from spacy_transformers.layers import split_trf_batch, trfs2arrays
    from thinc.api import chain

    transformer = create_transformer_model(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config, inference_precision, training_precision
    )
    return chain(chain(transformer, split_trf_batch()), trfs2arrays(pooling, grad_factor))


def _init_in_fp32(init, model, X=None, Y=None):
    """v3's init runs one prediction to learn the output width: fp32 then, or it would build an int8
    copy of weights that training is about to change."""
    shim = model.layers[0].shims[0]
    precision, shim.inference_precision = shim.inference_precision, "fp32"
    try:
        return init(model, X=X, Y=Y)
    finally:
        shim.inference_precision = precision
