"""The inference copies a PrecisionShim predicts through, each a `run(kwargs) -> ModelOutput` callable.

A copy never switches the training module between train and eval, and gives thinc and the NER fp32.
"""

import copy
import itertools
import threading

import numpy
import torch
from transformers.modeling_outputs import BaseModelOutput

from .runtimes import import_onnxruntime, import_openvino


def eval_twin(module):
    """A second module tree over the very same parameter and buffer tensors, in eval mode for good.

    thinc's PyTorchShim.predict switches the shared module to eval() and back to train(), so a
    prediction in one thread could run while another had switched dropout back on (spaCy #11868).
    The twin needs no switch; the optimizer's updates reach it, since the tensors are the same."""
    shared = {id(tensor): tensor for tensor in itertools.chain(module.parameters(), module.buffers())}
    return copy.deepcopy(module, shared).eval()


def fp32_runner(module, mixed_precision: bool):
    twin = eval_twin(module)

    def run(kwargs):
        with torch.no_grad(), torch.autocast(device_type="cuda", enabled=mixed_precision):
            return twin(**kwargs)

    return run


def bf16_runner(module):
    """bf16 weights (a copy, in eval mode), fp32 out."""
    copied = copy.deepcopy(module).to(torch.bfloat16).eval()

    def run(kwargs):
        with torch.inference_mode():
            return BaseModelOutput(last_hidden_state=copied(**kwargs).last_hidden_state.float())

    return run


def onnx_int8_session(model_bytes: bytes, profile_prefix: str = ""):
    """An ONNX Runtime session on torch's thread count (its sessions may run from any thread); with
    `profile_prefix`, it profiles its kernels into files of that prefix (benchmark.forward)."""
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def onnx_int8_runner(model_bytes: bytes):
    """The int8 copy run by ONNX Runtime."""
    session = onnx_int8_session(model_bytes)
    names = [graph_input.name for graph_input in session.get_inputs()]

    def run(kwargs):
        feed = {name: kwargs[name].cpu().numpy() for name in names}
        return BaseModelOutput(last_hidden_state=torch.from_numpy(session.run(None, feed)[0]))

    return run


def openvino_runner(model_bytes: bytes):
    """The static int8 copy run by OpenVINO, on torch's thread count; each thread gets its own infer request
    (one request serves one call at a time)."""
    core = import_openvino().Core()
    compiled = core.compile_model(
        core.read_model(model_bytes), "CPU", {"INFERENCE_NUM_THREADS": torch.get_num_threads()}
    )
    names = [port.get_any_name() for port in compiled.inputs]
    per_thread = threading.local()

    def run(kwargs):
        if not hasattr(per_thread, "request"):
            per_thread.request = compiled.create_infer_request()
        output = per_thread.request.infer({name: kwargs[name].cpu().numpy() for name in names})[compiled.outputs[0]]
        return BaseModelOutput(
            last_hidden_state=torch.from_numpy(numpy.array(output))
        )  # a copy: the request reuses its buffer

    return run
