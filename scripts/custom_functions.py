"""The functions the training config names, registered with spaCy; `spacy package --code` ships them.

The corpus reader gives the pipeline gold tokens, whole Docs and gold sentence starts.

spaCy's own Corpus either keeps document context but leaves the predicted Doc without sentence
starts, or (`gold_preproc`) keeps sentences but cuts every Doc into them. With the starts kept, the
transition-based NER cannot open or continue an entity across a sentence boundary, so what the
model predicts is scored the same by spaCy (per Doc) and by seqeval or conlleval (per sentence).
Training, the dev scores during training, evaluate and crosscheck all read Docs this way.
"""
import functools
import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
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


# Inference precision ---------------------------------------------------------------------------
# On a 2-core AVX2 CPU (no native bf16) a DistilBERT forward in fp32 is matmul-bound at a few
# percent of what the CPU's int8 units do, bf16 runs emulated (several times slower) and torch's dynamic int8
# gained little; ONNX Runtime's fused graph with dynamically quantized int8 MatMuls was the clear
# win (README, Performance). So prediction may run another copy of the transformer than training:
# training (begin_update) always runs and updates the fp32 torch module, and any faster copy is
# rebuilt from its current weights, lazily, at the next prediction (spacy-transformers loads the
# HF weights in from_disk/initialize, after this architecture is built).

PRECISIONS = ("auto", "fp32", "bf16", "int8")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), "").split())


@functools.lru_cache(maxsize=None)
def auto_precision() -> str:
    """What "auto" (the default) means on this CPU: int8 through ONNX Runtime on the CPU kind where it was
    measured (AVX2 without AVX-512: 1.8x the fp32 words/s, tag agreement and F1 within the bar, README),
    and fp32 everywhere else, including AVX-512 and AMX CPUs, where int8 and bf16 are unmeasured, and
    wherever onnxruntime is missing. So the default is never a precision slower than fp32 on its CPU."""
    flags = cpu_flags()
    if "avx2" in flags and not flags & {"avx512f", "avx512_bf16", "amx_bf16"} and _has_onnxruntime():
        return "int8"
    return "fp32"


# What the int8 path imports; the packaged model requires them (scripts/package.py), requirements.txt pins the same.
INT8_REQUIREMENTS = ("onnxruntime==1.32.0", "onnx==1.23.2")


def _has_onnxruntime() -> bool:
    try:
        import onnx  # noqa: F401 -- the quantizer needs it
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _wrap_output(last_hidden_state):
    from transformers.modeling_outputs import BaseModelOutput

    return BaseModelOutput(last_hidden_state=last_hidden_state)


def _bf16_runner(module):
    """bf16 weights (a copy), fp32 out: thinc and the NER see fp32 as always."""
    import copy

    import torch

    copied = copy.deepcopy(module).to(torch.bfloat16).eval()

    def run(kwargs):
        with torch.inference_mode():
            return _wrap_output(copied(**kwargs).last_hidden_state.float())

    return run


def int8_cache_dir() -> Optional[Path]:
    """Where int8 copies are kept between processes, so only the first load of a model pays the export:
    $NER_DISTILBERT_CACHE (empty: no cache), else $XDG_CACHE_HOME/ner_distilbert or ~/.cache/ner_distilbert."""
    if "NER_DISTILBERT_CACHE" in os.environ:
        return Path(os.environ["NER_DISTILBERT_CACHE"]) if os.environ["NER_DISTILBERT_CACHE"] else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ner_distilbert"


def _weights_key(module, names) -> str:
    """A digest of everything the int8 copy is made from: the weights, the inputs, the exporting versions."""
    import onnxruntime
    import torch

    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((torch.__version__, onnxruntime.__version__, sorted(names), INT8_REQUIREMENTS)).encode())
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _int8_model_bytes(module, example_kwargs) -> bytes:
    """The module exported to ONNX and dynamically quantized (int8 weights, u8 activations per batch),
    from the cache when this very module was quantized before (an export and quantization take seconds)."""
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = list(example_kwargs)
    cache = int8_cache_dir()
    cached = cache / f"int8-{_weights_key(module, names)}.onnx" if cache else None
    if cached and cached.exists():
        return cached.read_bytes()
    axes = {name: {0: "batch", 1: "pieces"} for name in names}
    axes["last_hidden_state"] = {0: "batch", 1: "pieces"}
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on constants in HF's mask code: shapes stay dynamic
            module.eval()
            torch.onnx.export(
                module, (), str(fp32_path), kwargs=dict(example_kwargs), input_names=names, output_names=["last_hidden_state"],
                dynamic_axes=axes, opset_version=17, dynamo=False,
            )
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer logs advice on pre-processing (shape inference) as a root warning
        try:
            quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": 1})
        finally:
            root.setLevel(level)
        model = int8_path.read_bytes()
    if cached:
        try:  # written under a temporary name and renamed: processes that quantize at once never read half a file
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(model)
            partial.replace(cached)
        except OSError as error:
            warnings.warn(f"{cached}: could not keep the int8 copy of the transformer ({error}); the next process exports it again")
    return model


def _onnx_int8_runner(module, example_kwargs):
    """The int8 copy run by ONNX Runtime on torch's thread count."""
    import onnxruntime
    import torch

    names = list(example_kwargs)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(_int8_model_bytes(module, example_kwargs), options, providers=["CPUExecutionProvider"])

    def run(kwargs):
        feed = {name: kwargs[name].cpu().numpy() for name in names}
        return _wrap_output(torch.from_numpy(session.run(None, feed)[0]))

    return run


class PrecisionShim(HFShim):
    """spacy-transformers' HFShim whose predictions may run a bf16 or int8 copy of the transformer."""

    inference_precision = "auto"
    _fast = None  # (the fp32 module it was built from, its precision, its runner)
    _updated = False

    def resolved_precision(self) -> str:
        precision = self.inference_precision
        if self.device.type != "cpu" or self._hfmodel._init_transformer_config.get("output_hidden_states") or self._hfmodel._init_transformer_config.get("output_attentions"):
            return "fp32"  # GPUs keep mixed_precision; the fast copies give the last hidden state only
        if precision == "auto":
            return "fp32" if self._updated else auto_precision()  # a pipeline in training evaluates as it trains
        if precision == "int8" and not _has_onnxruntime():
            raise ImportError(f'inference_precision "int8" runs the transformer in ONNX Runtime: pip install {" ".join(INT8_REQUIREMENTS)}')
        return precision

    def predict(self, inputs):
        precision = self.resolved_precision()
        if precision == "fp32":
            return super().predict(inputs)
        kwargs = dict(inputs.kwargs)
        if self._fast is None or self._fast[0] is not self._model or self._fast[1] != precision:
            self._model.eval()
            runner = _bf16_runner(self._model) if precision == "bf16" else _onnx_int8_runner(self._model, kwargs)
            self._model.train()
            self._fast = (self._model, precision, runner)
        return self._fast[2](kwargs)

    def begin_update(self, inputs):
        self._fast, self._updated = None, True  # the weights are about to change
        return super().begin_update(inputs)


def predicting_precision(nlp: Language) -> str:
    """The precision `nlp`'s transformer predicts in now ("fp32" for any other transformer architecture)."""
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    return shim.resolved_precision() if isinstance(shim, PrecisionShim) else "fp32"


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


@spacy.registry.architectures("ner_distilbert.TransformerModel.v1")
def create_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    inference_precision: str = "auto",
):
    """spacy-transformers.TransformerModel.v3 whose predictions on a CPU run in `inference_precision`:
    "fp32" (v3 as it is), "bf16" (a bf16 copy of the weights, fp32 out), "int8" (ONNX Runtime, int8
    weights), or "auto" (this CPU's best measured choice, see `auto_precision`). Training is fp32."""
    from spacy_transformers.layers.transformer_model import TransformerModel

    if inference_precision not in PRECISIONS:
        raise ValueError(f"inference_precision {inference_precision!r}: expected one of {PRECISIONS}")
    model = TransformerModel(name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config)
    shim = model.layers[0].shims[0]
    shim.__class__ = PrecisionShim  # built by HFWrapper inside v3; only predict and begin_update differ
    shim.inference_precision = inference_precision
    model.attrs["inference_precision"] = inference_precision
    model.init = functools.partial(_init_in_fp32, model.init)
    return model


def _init_in_fp32(init, model, X=None, Y=None):
    """v3's init runs one prediction to learn the output width: fp32 then, or it would build an int8
    copy of weights that training is about to change (and cost `spacy train` an ONNX export)."""
    shim = model.layers[0].shims[0]
    precision, shim.inference_precision = shim.inference_precision, "fp32"
    try:
        return init(model, X=X, Y=Y)
    finally:
        shim.inference_precision = precision
