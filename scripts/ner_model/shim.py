"""PrecisionShim: spacy-transformers' HFShim whose predictions run an inference copy of the transformer.

Training (begin_update) always runs and updates the torch module; predictions run a copy built from its
current weights, lazily, at the next prediction (spacy-transformers loads the weights in from_disk or
initialize, after the model is built). Which copy: docs/precision.md.
"""

import threading
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional

import srsly
import torch
from spacy_transformers.layers.hf_shim import HFShim

from .hardware import auto_precision, auto_training_precision
from .runners import bf16_runner, fp32_runner, onnx_int8_runner, openvino_runner
from .runtimes import INT8_REQUIREMENTS, STATIC_INT8_REQUIREMENT, has_onnxruntime, has_openvino

# One lock for all shims, as a module global: shims are deep-copied and pickled, which a lock cannot be.
_BUILDING = threading.Lock()
# Where to_bytes keeps the ONNX copies, beside spacy-transformers' keys.
COPY_KEYS = {"int8": "ner_distilbert_int8", "int8-static": "ner_distilbert_int8_static"}


class PrecisionShim(HFShim):
    """An HFShim whose predictions run an inference copy (fp32, bf16, int8 or int8-static) and never switch
    the training module between train and eval; training may run in bf16 autocast. A pipeline that has been
    updated in this process predicts in fp32: training evaluates in the precision it trains in, and exports
    nothing."""

    def __init__(
        self,
        hf_model,
        *,
        inference_precision: str,
        training_precision: str,
        fp32_only: bool,
        mixed_precision: bool,
        grad_scaler_config: dict,
    ):
        super().__init__(hf_model, mixed_precision=mixed_precision, grad_scaler_config=dict(grad_scaler_config))
        self.inference_precision = inference_precision
        self.training_precision = training_precision
        self.fp32_only = fp32_only  # the copies give the last hidden state only
        self.updated = False
        self.onnx_copies = {}  # precision -> (the torch module it was made from, the ONNX bytes): kept by to_bytes
        self.input_batches: Optional[List[dict]] = None  # where recording_inputs collects the predictions' inputs
        self._inference = None  # (the torch module, precision, runner)

    def resolved_precision(self) -> str:
        """The precision the next prediction runs in."""
        if self.device.type != "cpu" or self.fp32_only or self.updated:
            return "fp32"  # GPUs run fp32 (or mixed precision, as the config says)
        precision = auto_precision() if self.inference_precision == "auto" else self.inference_precision
        if precision == "int8" and not has_onnxruntime():
            raise ImportError(
                f'inference_precision "int8" runs the transformer in ONNX Runtime: pip install "{INT8_REQUIREMENTS[0]}"'
            )
        if precision == "int8-static":
            if not has_openvino():
                raise ImportError(
                    'inference_precision "int8-static" runs the transformer in OpenVINO: '
                    f'pip install "{STATIC_INT8_REQUIREMENT}"'
                )
            if self.onnx_copy("int8-static") is None:
                raise ValueError(
                    'inference_precision "int8-static": this pipeline holds no copy calibrated for its current '
                    "weights; python -m scripts.package makes one inside the package (--calibration-docs), "
                    "calibrate_int8_static(nlp, texts) in memory"
                )
        return precision

    def resolved_training_precision(self) -> str:
        """bf16 autocast on a CPU where asked, or with "auto" on the CPU kinds AUTO_TRAINING_PRECISION names;
        fp32 otherwise (a GPU trains as mixed_precision says)."""
        if self.device.type != "cpu":
            return "fp32"
        return auto_training_precision() if self.training_precision == "auto" else self.training_precision

    @contextmanager
    def predicting_in(self, precision: str) -> Iterator["PrecisionShim"]:
        """Predictions inside the block run in `precision`, whatever the setting; for one-off work on a
        pipeline no other thread is using (making a copy, initializing), not for serving."""
        saved, self.inference_precision = self.inference_precision, precision
        try:
            yield self
        finally:
            self.inference_precision = saved

    @contextmanager
    def recording_inputs(self) -> Iterator[List[dict]]:
        """The inputs spacy-transformers gives the transformer inside the block, as dicts of arrays, in the
        list it yields (what calibration measures)."""
        self.input_batches = []
        try:
            yield self.input_batches
        finally:
            self.input_batches = None

    def predict(self, inputs):
        if self.input_batches is not None:
            self.input_batches.append({name: value.cpu().numpy() for name, value in inputs.kwargs.items()})
        return self._runner(self.resolved_precision(), inputs.kwargs)(inputs.kwargs)

    def _runner(self, precision: str, kwargs) -> Callable:
        built = self._inference
        if built is None or built[0] is not self._model or built[1] != precision:
            with _BUILDING:
                built = self._inference
                if built is None or built[0] is not self._model or built[1] != precision:
                    built = self._inference = (self._model, precision, self._new_runner(precision, kwargs))
        return built[2]

    def _new_runner(self, precision: str, kwargs) -> Callable:
        if precision == "int8":
            return self._copy_runner(precision, lambda: onnx_int8_runner(self.int8_bytes(kwargs)))
        if precision == "int8-static":
            return self._copy_runner(precision, lambda: openvino_runner(self.onnx_copy("int8-static")))
        if precision == "bf16":
            return bf16_runner(self._model)
        return fp32_runner(self._model, self._mixed_precision)

    def _copy_runner(self, precision: str, make: Callable) -> Callable:
        """`make()`'s runner of an exported copy, or an error that names the transformer's family, the
        precision its graph cannot run in and the ones that run any family."""
        try:
            return make()
        except Exception as err:  # the exporter, ONNX Runtime and OpenVINO each raise their own kinds; chained
            family = getattr(getattr(self._model, "config", None), "model_type", type(self._model).__name__)
            reason = [line for line in str(err).splitlines() if line.strip()][-1:] or [type(err).__name__]
            raise ValueError(
                f'inference_precision "{precision}": the {family} transformer\'s exported graph does not run '
                f'({reason[0].strip()}); "fp32" and "bf16" run every family: spacy.load(..., '
                'config={"components.transformer.model.inference_precision": "bf16"})'
            ) from err

    def onnx_copy(self, precision: str) -> Optional[bytes]:
        """The `precision` copy of the current weights, if one was made or loaded."""
        made_from, model_bytes = self.onnx_copies.get(precision, (None, None))
        return model_bytes if made_from is self._model else None

    def int8_bytes(self, example_kwargs) -> bytes:
        """The int8 copy of the current weights: the one the package brought, else made now (seconds)."""
        if self.onnx_copy("int8") is None:
            # onnx and the exporter are imported only when a copy is made: a package brings its copy, and
            # every load would otherwise pay for the import
            from .exports import int8_model_bytes

            self.onnx_copies["int8"] = (self._model, int8_model_bytes(self._model, example_kwargs))
        return self.onnx_copies["int8"][1]

    def calibrate_int8_static(self, batches: List[dict]) -> None:
        """Make the int8-static copy, its activation scales fixed by `batches` (recording_inputs' lists).
        It is compiled once here, so that a family OpenVINO cannot run is refused when the copy is made
        (the package step), not at a prediction after the wheel is installed."""
        from .exports import static_int8_model_bytes  # as in int8_bytes: only when a copy is made

        model_bytes = static_int8_model_bytes(self._model, batches)
        self._copy_runner("int8-static", lambda: openvino_runner(model_bytes))
        self.onnx_copies["int8-static"] = (self._model, model_bytes)
        self._inference = None

    def begin_update(self, inputs):
        self.updated, self._inference, self.onnx_copies = True, None, {}  # the weights are about to change
        bf16 = self.resolved_training_precision() == "bf16"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output, backprop = super().begin_update(inputs)
        if bf16:  # thinc and the NER read fp32; autograd carries the gradient back through the casts
            outputs_to_fp32(output)
        return output, backprop

    def to_device(self, device_type: str, device_id: int):
        self._inference = None  # buffers move to new tensors; the twin would keep the old ones
        return super().to_device(device_type, device_id)

    def to_bytes(self):
        data = super().to_bytes()
        copies = {key: self.onnx_copy(precision) for precision, key in COPY_KEYS.items() if self.onnx_copy(precision)}
        return srsly.msgpack_dumps({**srsly.msgpack_loads(data), **copies}) if copies else data

    def from_bytes(self, bytes_data):
        super().from_bytes(bytes_data)  # it reads its own keys and leaves ours
        saved = srsly.msgpack_loads(bytes_data)
        self.onnx_copies = {
            precision: (self._model, saved[key]) for precision, key in COPY_KEYS.items() if saved.get(key)
        }
        self._inference, self.updated = None, False
        return self

    def __getstate__(self):  # copies and pickles leave the inference copy behind (an ONNX session pickles not)
        return {**self.__dict__, "_inference": None, "input_batches": None}


def outputs_to_fp32(output) -> None:
    """Every bf16 tensor of a transformer's output (a ModelOutput) cast to fp32 in place: spacy-transformers
    hands each of them to thinc, which has no bf16 (BERT, RoBERTa and XLM-R add `pooler_output` to
    `last_hidden_state`; `output_hidden_states` adds a tuple)."""

    def fp32(value):
        if isinstance(value, tuple):
            return tuple(fp32(item) for item in value)
        return value.float() if torch.is_tensor(value) and value.dtype == torch.bfloat16 else value

    for key, value in output.items():
        output[key] = fp32(value)
