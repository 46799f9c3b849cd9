"""The functions the training config names, registered with spaCy; `spacy package --code` ships them.

The corpus reader gives the pipeline gold tokens, whole Docs and gold sentence starts.

spaCy's own Corpus either keeps document context but leaves the predicted Doc without sentence
starts, or (`gold_preproc`) keeps sentences but cuts every Doc into them. With the starts kept, the
transition-based NER cannot open or continue an entity across a sentence boundary, so what the
model predicts is scored the same by spaCy (per Doc) and by seqeval or conlleval (per sentence).
Training, the dev scores during training, evaluate and crosscheck all read Docs this way.
"""
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
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
    step (scripts/benchmark.py). torch's fused kernel does it in one multi-threaded pass. GPU
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
