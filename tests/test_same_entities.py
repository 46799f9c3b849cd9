"""A text gets the same entities however the model is called: from 8 threads at once, alone or in a batch
of 256, shuffled, under another max_batch_items; in every precision this CPU runs (bf16 is emulated on
CPUs without native bf16: slower, the same code). The model is the tests' trained tiny pipeline, on
invented news sentences of CoNLL-2003's lengths; int8-static is calibrated on its training Docs.
"""

import random

import pytest
import spacy
from spacy.tokens import DocBin

from scripts.benchmark.same_entities import differences, entities, in_threads
from scripts.ner_model.precision import INFERENCE_PRECISION_KEY, calibrate_int8_static, predicting_precision
from scripts.ner_model.runtimes import has_onnxruntime, has_openvino
from scripts.optimizer import create_torch_adam
from scripts.synthetic_news import generate_texts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("same_entities")]  # each precision's answers alone, once
PRECISIONS = [
    "fp32",
    "bf16",
    pytest.param("int8", marks=pytest.mark.skipif(not has_onnxruntime(), reason="onnxruntime not installed")),
    pytest.param(
        "int8-static",
        marks=pytest.mark.skipif(
            not has_onnxruntime() or not has_openvino(), reason="int8-static needs onnxruntime and openvino"
        ),
    ),
]
TEXTS = [" ".join(words) for words in generate_texts(1000, seed=7)]


@pytest.fixture(scope="module", params=PRECISIONS)
def loaded(request, tiny_pipeline, demo_corpus):
    """The pipeline in one precision and each text's entities when it is tagged alone."""
    nlp = spacy.load(tiny_pipeline, config={INFERENCE_PRECISION_KEY: request.param})
    if request.param == "int8-static":  # as the package step calibrates: on the training Docs
        calibrate_int8_static(nlp, DocBin().from_disk(demo_corpus / "train.spacy").get_docs(nlp.vocab))
    assert predicting_precision(nlp) == request.param
    alone = [entities(nlp(text)) for text in TEXTS]
    assert sum(map(len, alone)) > len(TEXTS) // 2, "the pipeline finds too few entities for the comparison to say much"
    return nlp, alone


def test_threads_get_what_a_call_alone_gets(loaded):
    nlp, alone = loaded
    order, found = in_threads(nlp, TEXTS)
    assert differences(found, [alone[i] for i in order]) == []


def test_batches_shuffles_and_batch_sizes_change_nothing(loaded):
    nlp, alone = loaded
    assert differences([entities(doc) for doc in nlp.pipe(TEXTS, batch_size=256)], alone) == []
    order = list(range(len(TEXTS)))
    random.Random(1).shuffle(order)
    shuffled = [entities(doc) for doc in nlp.pipe([TEXTS[i] for i in order], batch_size=256)]
    assert differences(shuffled, [alone[i] for i in order]) == []
    transformer = nlp.get_pipe("transformer")
    for max_batch_items in (64, 8192):
        transformer.cfg["max_batch_items"] = max_batch_items
        assert differences([entities(doc) for doc in nlp.pipe(TEXTS, batch_size=256)], alone) == [], max_batch_items


def test_threads_exact_again_after_an_update(tiny_pipeline):
    """Training switches the torch module to train(); predictions after it run without dropout all the same
    (250 texts, each called 4 times from 8 threads)."""
    nlp = spacy.load(tiny_pipeline)
    examples = [spacy.training.Example.from_dict(nlp.make_doc(text), {"entities": []}) for text in TEXTS[:4]]
    nlp.update(examples, sgd=create_torch_adam(1e-4), drop=0.1)
    assert nlp.get_pipe("transformer").model.layers[0].shims[0]._model.training
    texts = TEXTS[:250]
    alone = [entities(nlp(text)) for text in texts]
    order, found = in_threads(nlp, texts)
    assert differences(found, [alone[i] for i in order]) == []


@pytest.fixture(scope="module")
def outlier_pipeline(tmp_path_factory, demo_corpus, demo_conll_dir):
    """The tests' tiny pipeline on a transformer with a real encoder's activation ranges (a few hidden
    dimensions tens of times larger than the rest: make_transformer's outlier_scale), where rounding to
    bf16 or int8 has something to lose. The plain tiny model has none: bf16 batch-dependence on AMX,
    which a real MiniLM showed, passed every check on it."""
    from conftest import made_once, train_tiny_pipeline
    from scripts.make_transformer import conll_words, make_transformer

    words = list(conll_words([demo_conll_dir / "train.txt"]))

    def make(path):
        transformer = make_transformer(
            path / "transformer", words, dim=32, n_layers=1, n_heads=2, hidden_dim=64, outlier_scale=OUTLIER_SCALE
        )
        train_tiny_pipeline(path / "model", demo_corpus, transformer, expected=())  # the test counts what it finds

    return made_once(tmp_path_factory, "tiny_outlier_pipeline", make) / "model"


OUTLIER_SCALE = (
    10.0  # bf16 changed a text's entities in a batch on it (Zen 4), as on a real MiniLM; 30 left it unable to learn
)


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_real_activation_ranges_change_nothing_in_batches(outlier_pipeline, precision):
    """The default precision of this CPU kind, and fp32, on weights with real activation ranges."""
    nlp = spacy.load(outlier_pipeline, config={INFERENCE_PRECISION_KEY: precision})
    alone = [entities(nlp(text)) for text in TEXTS]
    assert sum(map(len, alone)) > len(TEXTS) // 2, "the pipeline finds too few entities for the comparison to say much"
    assert differences([entities(doc) for doc in nlp.pipe(TEXTS, batch_size=256)], alone) == []
    order = list(range(len(TEXTS)))
    random.Random(1).shuffle(order)
    shuffled = [entities(doc) for doc in nlp.pipe([TEXTS[i] for i in order], batch_size=64)]
    assert differences(shuffled, [alone[i] for i in order]) == [], predicting_precision(nlp)
