"""The optimizer and learn-rate schedule the config names (training only: a packaged model needs neither)."""

import numpy
import spacy
import torch
from thinc.api import Optimizer, warmup_linear
from torch.optim.adam import adam


class TorchAdam(Optimizer):
    """thinc's Adam with decoupled weight decay, updating CPU parameters with torch's fused AdamW kernel.

    thinc updates each parameter with a single-threaded loop plus separate NumPy passes for weight
    decay and zeroing, a large share of a transformer's training step on a CPU (docs/performance.md).
    torch's fused kernel does it in one multi-threaded pass. GPU
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
            [param],
            [grad],
            [self.mom1[key]],
            [self.mom2[key]],
            [],
            [steps_done],
            fused=True,
            decoupled_weight_decay=True,
            amsgrad=False,
            maximize=False,
            beta1=self.b1,
            beta2=self.b2,
            lr=self.learn_rate * lr_scale,
            weight_decay=self.L2,
            eps=self.eps,
        )
        grad.zero_()
        return weights, gradient


@spacy.registry.optimizers("ner_distilbert.TorchAdam.v1")
def create_torch_adam(
    learn_rate,
    *,
    L2=0.01,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    grad_clip=1.0,
    L2_is_weight_decay: bool = True,
    use_averages: bool = False,
) -> Optimizer:
    """Adam.v1's settings; schedules work as for Adam.v1."""
    return TorchAdam(
        learn_rate,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
        use_radam=False,
    )


@spacy.registry.schedules("ner_distilbert.warmup_linear.v1")
def create_warmup_linear(initial_rate: float, total_steps: int, warmup_fraction: float = 0.1):
    """thinc's warmup_linear.v1 with its warm-up a share of `total_steps`, so that it scales with the run:
    the train step (scripts/train.py) sets total_steps to the steps of the configured epochs."""
    if total_steps < 1 or not 0 <= warmup_fraction < 1:
        raise ValueError(
            "ner_distilbert.warmup_linear.v1: expected total_steps >= 1 and 0 <= warmup_fraction < 1, got "
            f"{total_steps} and {warmup_fraction}"
        )
    return warmup_linear(initial_rate, round(warmup_fraction * total_steps), total_steps)
