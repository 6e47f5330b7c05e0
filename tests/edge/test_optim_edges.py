"""Optimizer edge cases: the clip coefficient at infinite, nan and zero norms against PyTorch 2.13
(tests/fixtures/edge.npz), and consumed iterables (an exhausted generator of parameters) warned
or refused as PyTorch 2.13 does."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from edge_compare import assert_edge_close

from minillm.optim import SGD, Adam, AdamW, clip_grad_norm_
from minillm.tensor import Tensor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edge.npz"
with np.load(FIXTURES, allow_pickle=False) as _npz:
    DATA = {k: _npz[k] for k in _npz.files}
CLIP_ROWS = sorted(
    k[: -len("/config")] for k in DATA if k.startswith("clip_grad_norm_/") and k.endswith("/config")
)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's inf * 0 on the way
@pytest.mark.parametrize("row", CLIP_ROWS)
def test_C21_clip_coefficient_at_infinite_nan_and_zero_norms_matches_torch(row):
    """g <- g * min(1, max_norm / (total_norm + 1e-6)): an inf norm scales finite entries to 0
    and inf entries to nan, a nan norm makes every entry nan, max_norm = inf leaves g alone."""
    config = json.loads(str(DATA[f"{row}/config"]))
    params = []
    for name in config["inputs"]:
        g = DATA[f"{row}/in/{name}"]
        p = Tensor(np.zeros_like(g), requires_grad=True)
        p.grad = g.copy()
        params.append(p)
    total = clip_grad_norm_(params, **config["kwargs"])
    want = DATA[f"{row}/out/total_norm"]
    assert_edge_close(np.float32(total), want, f"{row} total norm")
    for name, p in zip(config["inputs"], params, strict=True):
        assert_edge_close(p.grad, DATA[f"{row}/out/{name}"], f"{row} {name} after clipping")


def params_with_grads():
    ps = [Tensor(np.ones(3, np.float32), requires_grad=True) for _ in range(2)]
    for p in ps:
        p.grad = np.full(3, 10.0, np.float32)
    return ps


def test_clip_grad_norm_of_an_exhausted_generator_warns_as_torch():
    params = params_with_grads()
    gen = (p for p in params)
    list(gen)  # consumed once already, as model.parameters() passed to something else first
    with pytest.warns(UserWarning, match="`parameters` is an empty generator, no gradient clip"):
        assert clip_grad_norm_(gen, 1.0) == 0.0
    np.testing.assert_array_equal(params[0].grad, 10.0)  # nothing clipped, and it said so


def test_clip_grad_norm_reads_a_fresh_generator_once_and_clips():
    params = params_with_grads()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a generator that yields parameters
        total = clip_grad_norm_((p for p in params), 1.0)
    assert abs(total - np.sqrt(6 * 100.0)) < 1e-4
    assert abs(np.sqrt(sum((p.grad**2).sum() for p in params)) - 1.0) < 1e-4


def test_clip_grad_norm_of_an_empty_list_is_zero_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns for an empty generator only
        assert clip_grad_norm_([], 1.0) == 0.0


@pytest.mark.parametrize("Opt", [SGD, Adam, AdamW])
def test_an_optimizer_given_an_exhausted_generator_refuses_it_as_torch(Opt):
    """torch: ValueError "optimizer got an empty parameter list"; ours says why as well."""
    gen = (p for p in params_with_grads())
    list(gen)
    with pytest.raises(ValueError, match=r"optimizer got an empty parameter list \(an exhausted"):
        Opt(gen, lr=0.1)


def test_a_param_group_given_an_exhausted_generator_warns():
    """torch accepts such a group silently (a stated deviation): its parameters never train."""
    ps = params_with_grads()
    gen = (p for p in ps[1:])
    list(gen)
    with pytest.warns(UserWarning, match=r"param group 1: `params` is an empty generator"):
        opt = SGD([{"params": ps[:1]}, {"params": gen}], lr=0.1)
    assert [len(g["params"]) for g in opt.param_groups] == [1, 0]


def test_an_optimizer_refuses_a_set_of_parameters_as_torch():
    with pytest.raises(TypeError, match="a set's order changes between runs"):
        SGD(set(params_with_grads()), lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        SGD([{"params": set(params_with_grads())}], lr=0.1)
