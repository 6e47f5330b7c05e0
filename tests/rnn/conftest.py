"""Shared by the RNN tests: the tolerance table, an assert that names op/shape/index, and the one
table mapping PyTorch's recurrent weights to ours."""

import numpy as np
import pytest
from compare import assert_close as _compare

# One table per dtype. float64: our cells and PyTorch's fused kernels sum the same terms in a
# different order, a few ulps apart per step; float32: the same computation run two ways.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6},
}

# PyTorch name -> ours, per layer k: (our name, PyTorch names, how). "T": our W is torch's
# weight transposed, (gates*H, in) -> (in, gates*H), gates in the same order (LSTM i, f, g, o;
# GRU r, z, n). "sum": our single bias is bias_ih + bias_hh (its gradient equals each of theirs).
TORCH_MAP = {
    "RNN": [
        ("W_xh", ("weight_ih_l{k}",), "T"),
        ("W_hh", ("weight_hh_l{k}",), "T"),
        ("b_h", ("bias_ih_l{k}", "bias_hh_l{k}"), "sum"),
    ],
    "LSTM": [
        ("W_x", ("weight_ih_l{k}",), "T"),
        ("W_h", ("weight_hh_l{k}",), "T"),
        ("b", ("bias_ih_l{k}", "bias_hh_l{k}"), "sum"),
    ],
    "GRU": [
        ("W_x", ("weight_ih_l{k}",), "T"),
        ("W_h", ("weight_hh_l{k}",), "T"),
        ("b_x", ("bias_ih_l{k}",), "copy"),
        ("b_h", ("bias_hh_l{k}",), "copy"),
    ],
}


def torch_mapping(family, num_layers, bias):
    """[(our parameter name, [torch names], how)] for every layer of a stack."""
    rows = []
    for k in range(num_layers):
        for ours, theirs, how in TORCH_MAP[family]:
            if how != "T" and not bias:
                continue
            rows.append((f"cells.{k}.{ours}", [t.format(k=k) for t in theirs], how))
    return rows


def from_torch(state, family, num_layers, bias):
    """Our state dict from PyTorch's named arrays."""
    out = {}
    for ours, theirs, how in torch_mapping(family, num_layers, bias):
        arrays = [np.asarray(state[t]) for t in theirs]
        out[ours] = arrays[0].T if how == "T" else sum(arrays)
    return out


def _assert_close(actual, expected, op):
    """compare.assert_close with this suite's table, chosen by the expected dtype."""
    _compare(actual, expected, op, TOLERANCES[np.asarray(expected).dtype])


@pytest.fixture
def assert_close():
    return _assert_close


@pytest.fixture
def torch_rows():
    return torch_mapping


@pytest.fixture
def state_from_torch():
    return from_torch
