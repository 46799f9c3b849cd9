"""The transformer exported to ONNX in fp32, and its two int8 graphs: per-row (ONNX Runtime) and static
(calibrated on training text, OpenVINO). The same weights give the same bytes."""

import io
import logging
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy
import onnx
import torch
from onnx import helper, numpy_helper

from .runners import eval_twin
from .runtimes import import_onnxruntime


def quantize_rows(model):
    """The fp32 ONNX graph with each MatMul by a constant weight made int8, activations quantized per row.

    ONNX Runtime's dynamic quantization takes one activation scale for the whole batch (padding
    included), so a text's entities changed with its batch-mates (docs/precision.md). Here every
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

    one, steps, tiny = (
        constant("rows/1", numpy.float32(1)),
        constant("rows/63", numpy.float32(63)),
        constant("rows/tiny", numpy.float32(1e-12)),
    )
    middle, middles = constant("rows/64", numpy.uint8(64)), constant("rows/[64]", numpy.array([64], dtype=numpy.uint8))
    index_0, index_1, index_last, to_end = (
        constant(f"rows/[{i}]", numpy.array([i], dtype=numpy.int64)) for i in (0, 1, -1, 2**62)
    )
    quantized_inputs = {}  # an activation read by several MatMuls (attention's q, k and v) is quantized once

    def quantize(x):
        """x as (rows, depth) uint8, each row's scale as a column, and x's shape."""
        if x not in quantized_inputs:
            shape = node("Shape", [x])
            rows = node(
                "Reshape", [x, node("Concat", [index_last, node("Slice", [shape, index_last, to_end])], axis=0)]
            )
            high = node(
                "Max",
                [
                    node("ReduceMax", [rows], axes=[1], keepdims=0),
                    node("Neg", [node("ReduceMin", [rows], axes=[1], keepdims=0)]),
                ],
            )
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
            "MatMulIntegerToFloat",
            [
                x_q,
                constant(f"{weight.name}/q", w_q),
                one,
                constant(f"{weight.name}/scale", w_scale.astype(numpy.float32)),
                middle,
            ],
            domain="com.microsoft",
        )
        out_shape = node(
            "Concat",
            [
                node("Slice", [shape, index_0, index_last]),
                constant(f"{weight.name}/columns", numpy.array([w.shape[1]], dtype=numpy.int64)),
            ],
            axis=0,
        )
        node("Reshape", [node("Mul", [product, row_scale]), out_shape], original.output[0])
    read = {
        name for n in nodes for name in n.input
    }  # a weight that another node reads too (DeBERTa's shared keys) stays
    kept = [init for init in graph.initializer if init.name not in quantized or init.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept + constants)
    del graph.node[:]
    graph.node.extend(nodes)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def onnx_bytes(module, example_kwargs) -> bytes:
    """The module's eval twin exported to ONNX in fp32, batch and length dynamic."""
    names = list(example_kwargs)
    axes = {name: {0: "batch", 1: "pieces"} for name in [*names, "last_hidden_state"]}
    exported = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants in HF's mask code: shapes stay dynamic
        torch.onnx.export(
            eval_twin(module),
            (),
            exported,
            kwargs=dict(example_kwargs),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return exported.getvalue()


def int8_model_bytes(module, example_kwargs) -> bytes:
    """The module exported to ONNX and quantized by `quantize_rows`: the same weights give the same bytes."""
    model = quantize_rows(onnx.load_from_string(onnx_bytes(module, example_kwargs)))
    model.ir_version = 8  # opset 17's IR version: older ONNX Runtime releases in INT8_REQUIREMENTS read it
    return model.SerializeToString()


def static_int8_model_bytes(module, calibration: list) -> bytes:
    """The module exported to ONNX and quantized by ONNX Runtime's `quantize_static`: weights per output
    column in 7 bits (reduce_range: AVX2 without VNNI adds pairs of uint8 x int8 products in int16, which
    8-bit weights can overflow), int8 activations, symmetric, with scales fixed by the range each MatMul's
    input took on `calibration` (the transformer's inputs, dicts of arrays, on training text); symmetric
    because OpenVINO ran zero-pointed uint8 ones slower (docs/precision.md). Fixed scales cannot depend on
    batch-mates; text unlike the calibration text may be clipped (the accuracy bar measures it)."""
    import_onnxruntime()  # its quantization tools import onnxruntime: telemetry off first
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Batches(CalibrationDataReader):
        def __init__(self, graph_inputs):  # the exporter drops inputs a model ignores (DeBERTa's token types)
            self.batches = ({name: batch[name] for name in graph_inputs} for batch in calibration)

        def get_next(self):
            return next(self.batches, None)

    example = {name: torch.from_numpy(value) for name, value in calibration[0].items()}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, static = Path(tmp, "fp32.onnx"), Path(tmp, "static.onnx")
        fp32.write_bytes(onnx_bytes(module, example))
        graph_inputs = [graph_input.name for graph_input in onnx.load(str(fp32), load_external_data=False).graph.input]
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process the graph, at every call
        try:
            quantize_static(
                str(fp32),
                str(static),
                Batches(graph_inputs),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"MatMulConstBOnly": True, "ActivationSymmetric": True},
                reduce_range=True,
            )
        finally:
            logging.getLogger().setLevel(quiet)
        return static.read_bytes()
