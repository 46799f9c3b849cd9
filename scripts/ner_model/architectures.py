"""The registered architectures: spacy-transformers' TransformerModel built with a PrecisionShim.

`ner_distilbert.TransformerModel.v1` takes TransformerModel.v3's settings and two more:
`inference_precision` (predictions on a CPU: "fp32", "bf16" (a bf16 copy of the weights, fp32 out),
"int8" (ONNX Runtime, int8 weights, activations quantized per row), "int8-static" (OpenVINO, activation
scales calibrated on training text) or "auto", the CPU kind's measured choice) and `training_precision`
(the transformer's training on a CPU: "fp32", "bf16" autocast or "auto").
"""

import copy
from typing import Callable

from spacy import registry
from spacy_transformers.data_classes import HFObjects
from spacy_transformers.layers import split_trf_batch, trfs2arrays
from spacy_transformers.layers._util import replace_listener, replace_listener_cfg
from spacy_transformers.layers.transformer_model import (
    TransformerModel,
    _convert_transformer_inputs,
    _convert_transformer_outputs,
    forward,
    init,
    set_pytorch_transformer,
)
from thinc.api import Model, chain
from thinc.layers.pytorchwrapper import forward as pytorch_forward

from .hardware import PRECISIONS, TRAINING_PRECISIONS
from .shim import PrecisionShim


class PrecisionTransformerModel(TransformerModel):
    """TransformerModel whose wrapper holds a PrecisionShim from the start, with its init and copy. The
    precision settings live in the shim (attrs are saved with the weights and loaded over the config's).

    Built as TransformerModel builds itself (a "hf-pytorch" wrapper over the shim, the same forward,
    attrs and dims), so nothing is replaced after construction; `copy()` (what `nlp.replace_listeners`
    calls) builds this class again, so the copy predicts in the precision configured."""

    def __init__(
        self,
        name: str,
        get_spans: Callable,
        tokenizer_config: dict = {},
        transformer_config: dict = {},
        mixed_precision: bool = False,
        grad_scaler_config: dict = {},
        inference_precision: str = "auto",
        training_precision: str = "auto",
    ):
        if inference_precision not in PRECISIONS:
            raise ValueError(f"inference_precision {inference_precision!r}: expected one of {PRECISIONS}")
        if training_precision not in TRAINING_PRECISIONS:
            raise ValueError(f"training_precision {training_precision!r}: expected one of {TRAINING_PRECISIONS}")
        self.settings = dict(
            tokenizer_config=tokenizer_config,
            transformer_config=transformer_config,
            mixed_precision=mixed_precision,
            grad_scaler_config=grad_scaler_config,
            inference_precision=inference_precision,
            training_precision=training_precision,
        )
        shim = PrecisionShim(
            HFObjects(None, None, None, tokenizer_config, transformer_config),
            inference_precision=inference_precision,
            training_precision=training_precision,
            # the inference copies give the last hidden state only
            fp32_only=bool(
                transformer_config.get("output_hidden_states") or transformer_config.get("output_attentions")
            ),
            mixed_precision=mixed_precision,
            grad_scaler_config=grad_scaler_config,
        )
        wrapper = Model(
            "hf-pytorch",
            pytorch_forward,
            attrs={"convert_inputs": _convert_transformer_inputs, "convert_outputs": _convert_transformer_outputs},
            shims=[shim],
            dims={"nI": None, "nO": None},
        )
        Model.__init__(
            self,
            "transformer",
            forward,
            init=init_in_fp32,
            layers=[wrapper],
            dims={"nO": None},
            attrs={
                "get_spans": get_spans,
                "name": name,
                "set_transformer": set_pytorch_transformer,
                "has_transformer": False,
                "flush_cache_chance": 0.0,
                "replace_listener": replace_listener,
                "replace_listener_cfg": tok2vec_transformer_cfg,
            },
        )

    @property
    def shim(self) -> PrecisionShim:
        return self.layers[0].shims[0]

    def copy(self) -> "PrecisionTransformerModel":
        """A copy with its own parameters, shim (settings and weights) and attrs, built as this one was."""
        copied = type(self)(self.name, self.attrs["get_spans"], **self.settings)
        for name in self.dim_names:
            if self.has_dim(name):
                copied.set_dim(name, self.get_dim(name), force=True)
        copied.layers[0] = copy.deepcopy(self.layers[0])  # the shim with its torch module, as v3's copy does
        copied.attrs.update(self.attrs)  # has_transformer, set once the weights are loaded
        return copied


def init_in_fp32(model: PrecisionTransformerModel, X=None, Y=None):
    """TransformerModel's init runs one prediction to learn the output width: in fp32, or it would export an
    int8 copy of weights that training is about to change."""
    with model.shim.predicting_in("fp32"):
        return init(model, X=X, Y=Y)


def tok2vec_transformer_cfg(tok2vec_model_cfg: dict, listener_model_cfg: dict) -> dict:
    """spacy-transformers' replace_listener_cfg, pointing at Tok2VecTransformer.v1 below, which takes the
    precision settings (spacy-transformers' v3 rejects them)."""
    result = replace_listener_cfg(tok2vec_model_cfg, listener_model_cfg)
    if result["@architectures"] == "spacy-transformers.Tok2VecTransformer.v3":
        result["@architectures"] = "ner_distilbert.Tok2VecTransformer.v1"
    return result


# The class is the registered function: spaCy builds it from the config's settings, as it builds any layer.
create_transformer_model = registry.architectures("ner_distilbert.TransformerModel.v1")(PrecisionTransformerModel)


@registry.architectures("ner_distilbert.Tok2VecTransformer.v1")
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
) -> Model:
    """spacy-transformers.Tok2VecTransformer.v3 over TransformerModel.v1: what `nlp.replace_listeners` makes
    of a component that listened to this project's transformer, once saved and loaded."""
    transformer = PrecisionTransformerModel(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        mixed_precision,
        grad_scaler_config,
        inference_precision,
        training_precision,
    )
    return chain(chain(transformer, split_trf_batch()), trfs2arrays(pooling, grad_factor))
