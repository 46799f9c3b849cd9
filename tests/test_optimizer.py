"""The config's optimizer: thinc's Adam, its CPU update done by torch's fused kernel, to the same result."""

import numpy
import pytest
from thinc.api import Adam

from scripts.optimizer import create_torch_adam

# eps is added after the bias correction by torch, before it by thinc: it matters only for
# gradients near eps (tiny ones, after clipping), so it is set out of the way here.
SETTINGS = {"L2": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-12, "L2_is_weight_decay": True, "use_averages": False}


@pytest.mark.parametrize("grad_clip", [0.0, 1.0])
def test_torch_adam_follows_thinc_adam(grad_clip):
    rng = numpy.random.default_rng(0)
    start = rng.normal(size=(64, 32)).astype("float32")
    ours, theirs = create_torch_adam(0.01, grad_clip=grad_clip, **SETTINGS), Adam(0.01, grad_clip=grad_clip, **SETTINGS)
    w_ours, w_theirs = start.copy(), start.copy()
    for _ in range(5):
        gradient = rng.normal(size=start.shape).astype("float32")
        g_ours, g_theirs = gradient.copy(), gradient.copy()
        w_ours, g_ours = ours(("layer", "W"), w_ours, g_ours)
        w_theirs, g_theirs = theirs(("layer", "W"), w_theirs, g_theirs)
        assert not g_ours.any() and not g_theirs.any()  # gradients are consumed
    assert numpy.abs(w_ours - start).max() > 0.01  # it moved
    # torch decays the weights before the step, thinc after: they differ by lr * L2 * step a step,
    # and an Adam step is at most a few lr: 5 steps * 1e-4 * 3e-2 = 1.5e-5.
    numpy.testing.assert_allclose(w_ours, w_theirs, rtol=0, atol=2e-5)
