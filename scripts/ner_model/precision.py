"""What apps and the project's steps do with a loaded pipeline's transformer precision.

These read the shim through its methods only: a pipeline loaded from an installed package has that
package's copy of these modules, so its shim is of the package's class, not of this project's.
"""

from typing import Iterable, Optional

from spacy.language import Language

from .hardware import PRECISIONS
from .runtimes import INT8_REQUIREMENTS, has_onnxruntime

# Where a pipeline's config holds the transformer's precision settings (spacy.load's config overrides).
INFERENCE_PRECISION_KEY = "components.transformer.model.inference_precision"
TRAINING_PRECISION_KEY = "components.transformer.model.training_precision"


def transformer_shim(nlp: Language):
    """The shim of `nlp`'s "transformer" component."""
    return nlp.get_pipe("transformer").model.layers[0].shims[0]


def predicting_precision(nlp: Language) -> str:
    """The precision `nlp`'s transformer predicts in now ("fp32" for any other transformer architecture)."""
    shim = transformer_shim(nlp)
    return shim.resolved_precision() if hasattr(shim, "resolved_precision") else "fp32"


def keep_int8_copy(nlp: Language) -> bool:
    """Make the int8 copy of `nlp`'s transformer now, so that nlp.to_disk stores it with the weights and a
    package predicts in int8 without exporting anything (scripts/package.py). False where ONNX Runtime is
    missing, the transformer is not this project's architecture, or it predicts in fp32 whatever the
    setting (on a GPU, after an update)."""
    shim = transformer_shim(nlp)
    if not hasattr(shim, "predicting_in") or not has_onnxruntime():
        return False
    with shim.predicting_in("int8"):  # the copy is made from the inputs spacy-transformers gives it
        nlp("Anna Adler of Northwind Bank visited Lisbon.")
    return shim.onnx_copy("int8") is not None


def calibrate_int8_static(nlp: Language, texts: Iterable) -> int:
    """Make the "int8-static" copy of `nlp`'s transformer, its activation scales fixed by what the
    transformer sees on `texts` (strings or Docs: training text, as the package step passes), so that
    nlp.to_disk stores it; returns the number of forward batches calibrated on. It takes seconds to a
    minute (docs/precision.md)."""
    shim = transformer_shim(nlp)
    if not hasattr(shim, "calibrate_int8_static") or not has_onnxruntime():
        raise ValueError(
            "calibrate_int8_static: needs this project's transformer architecture and onnxruntime "
            f"({INT8_REQUIREMENTS[0]})"
        )
    with shim.predicting_in("fp32"), shim.recording_inputs() as batches:
        for _ in nlp.pipe(texts):
            pass
    if not batches:
        raise ValueError("calibrate_int8_static: no text to calibrate on")
    shim.calibrate_int8_static(batches)
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
        INFERENCE_PRECISION_KEY: precision,
    }
