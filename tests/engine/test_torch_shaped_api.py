"""The PyTorch-shaped Tensor and functional API: dim/axis aliases, what max(dim) returns, var's
unbiased default, the rules at kinks, and one-line errors for bad arguments (docs/autograd.md).

Values and gradients of every method against PyTorch are in test_ops_vs_torch.py (the "method_*"
fixture cases); gradchecks in engine_cases.py. Here: the semantics that a table cannot show.
"""

import numpy as np
import pytest

import minillm.functional as F
from minillm.tensor import Tensor, ValuesIndices, cat, concatenate, stack


def t(*shape, grad=True):
    n = int(np.prod(shape))
    data = np.random.default_rng(n).standard_normal(shape)  # float64, distinct values
    return Tensor(data, requires_grad=grad)


def test_cat_takes_dim_and_axis():
    a, b = t(2, 3), t(2, 1)
    want = np.concatenate([a.data, b.data], axis=1)
    for out in (
        F.cat([a, b], dim=1),
        F.cat([a, b], axis=1),
        F.cat([a, b], 1),
        F.concatenate([a, b], dim=-1),
        cat([a, b], axis=-1),
        concatenate([a, b], dim=1),
    ):
        np.testing.assert_array_equal(out.data, want)
    np.testing.assert_array_equal(stack([a, a], dim=-1).data, np.stack([a.data, a.data], -1))
    np.testing.assert_array_equal(F.stack([a, a], axis=2).data, np.stack([a.data, a.data], 2))


def test_reductions_take_dim_keepdim_and_axis_keepdims():
    x = t(3, 4, 5)
    for name in ("sum", "mean", "amax", "amin", "var", "std", "logsumexp"):
        torch_style = getattr(x, name)(dim=1, keepdim=True)
        numpy_style = getattr(x, name)(axis=1, keepdims=True)
        assert torch_style.shape == (3, 1, 5), name
        np.testing.assert_array_equal(torch_style.data, numpy_style.data, err_msg=name)
    np.testing.assert_array_equal(x.softmax(dim=0).data, x.softmax(axis=0).data)
    np.testing.assert_array_equal(F.softmax(x, dim=0).data, F.softmax(x, axis=0).data)
    np.testing.assert_array_equal(F.logsumexp(x, 0, True).data, F.logsumexp(x, axis=0).data[None])


BOTH_SPELLINGS = {
    "sum": lambda x: x.sum(dim=0, axis=0),
    "mean keepdim": lambda x: x.mean(0, keepdim=True, keepdims=True),
    "max": lambda x: x.max(dim=0, axis=0),
    "min": lambda x: x.min(1, axis=1),
    "amax": lambda x: x.amax(dim=1, axis=1),
    "var": lambda x: x.var(dim=0, axis=0),
    "std keepdim": lambda x: x.std(0, keepdim=True, keepdims=False),
    "softmax": lambda x: x.softmax(dim=0, axis=0),
    "F.softmax": lambda x: F.softmax(x, dim=0, axis=0),
    "F.log_softmax": lambda x: F.log_softmax(x, 0, axis=0),
    "F.logsumexp": lambda x: F.logsumexp(x, dim=0, axis=0),
    "F.cat": lambda x: F.cat([x, x], dim=0, axis=0),
    "F.stack": lambda x: F.stack([x, x], dim=0, axis=0),
    "F.sum": lambda x: F.sum(x, dim=0, axis=0),
}


@pytest.mark.parametrize("name", list(BOTH_SPELLINGS))
def test_giving_both_spellings_of_an_argument_is_a_type_error_naming_them(name):
    with pytest.raises(TypeError) as info:
        BOTH_SPELLINGS[name](t(2, 3))
    msg = str(info.value)
    assert ("dim=" in msg and "axis=" in msg) or ("keepdim=" in msg and "keepdims=" in msg), msg


def test_var_is_unbiased_by_default_like_torch():
    x = t(4, 6)
    np.testing.assert_allclose(x.var().data, x.data.var(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(x.var(1).data, x.data.var(axis=1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(x.var(axis=1).data, x.data.var(axis=1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(x.std(0).data, x.data.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(F.var(x, 0).data, x.data.var(axis=0, ddof=1), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs,ddof",
    [({"correction": 0}, 0), ({"unbiased": False}, 0), ({"unbiased": True}, 1), ({"ddof": 0}, 0)]
    + [({"correction": 2}, 2)],
)
def test_var_correction_unbiased_and_ddof_set_the_divisor(kwargs, ddof):
    x = t(7, 3)
    np.testing.assert_allclose(x.var(0, **kwargs).data, x.data.var(0, ddof=ddof), rtol=1e-12)
    np.testing.assert_allclose(x.std(0, **kwargs).data, x.data.std(0, ddof=ddof), rtol=1e-12)


def test_var_takes_torchs_positional_unbiased_flag_and_refuses_two_corrections():
    x = t(3, 5)
    np.testing.assert_allclose(x.var(False).data, x.data.var(), rtol=1e-12)
    with pytest.raises(TypeError, match="correction and unbiased"):
        x.var(0, correction=1, unbiased=True)


def test_var_of_one_element_is_nan_like_torch():
    assert np.isnan(t(3, 1, grad=False).var(1).data).all()
    assert (t(3, 1, grad=False).var(1, correction=0).data == 0).all()


def test_max_with_dim_returns_values_and_indices_like_torch():
    x = Tensor(np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 2.0]]), requires_grad=True)
    out = x.max(dim=1)
    assert isinstance(out, ValuesIndices) and isinstance(out, tuple)
    values, indices = out  # unpacks, as torch.return_types.max
    np.testing.assert_array_equal(values.data, [3.0, 2.0])
    np.testing.assert_array_equal(indices.data, [1, 0])  # the first maximum, as torch
    assert indices.dtype.kind == "i" and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0, 0], [1, 0, 0, 0]])  # one index per row
    assert x.min(1, keepdim=True).values.shape == (2, 1)
    np.testing.assert_array_equal(F.min(x, 1).indices.data, [3, 2])
    np.testing.assert_array_equal(x.argmax(1).data, [1, 0])  # the same first maximum
    assert x.argmin().item() == 3 and x.argmax(-1, keepdim=True).shape == (2, 1)


def test_max_with_axis_keeps_numpy_semantics_values_only_ties_share():
    x = Tensor(np.array([[1.0, 3.0, 3.0, 0.0]]), requires_grad=True)
    out = x.max(axis=1)
    assert isinstance(out, Tensor) and out.shape == (1,)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5, 0]])  # = amax, torch.amax's rule
    assert x.max(axis=-1, keepdims=True).shape == (1, 1)


def test_min_and_max_without_dim_reduce_everything():
    x = t(3, 4)
    assert x.max().shape == () and x.max().item() == x.data.max()
    assert x.min().shape == () and x.min().item() == x.data.min()
    assert F.max(x).item() == x.data.max() and F.amin(x).item() == x.data.min()


def test_max_of_several_dims_points_to_amax():
    with pytest.raises(TypeError, match="amax"):
        t(2, 3).max(dim=(0, 1))


BAD_DIM = {
    "sum": lambda x: x.sum(3),
    "mean": lambda x: x.mean(dim=(0, -4)),
    "max": lambda x: x.max(3),
    "amin": lambda x: x.amin(-4),
    "var": lambda x: x.var(5),
    "softmax": lambda x: x.softmax(3),
    "log_softmax": lambda x: F.log_softmax(x, dim=-4),
    "logsumexp": lambda x: F.logsumexp(x, 3),
    "unsqueeze": lambda x: x.unsqueeze(4),
    "squeeze": lambda x: x.squeeze(3),
    "flatten": lambda x: x.flatten(0, 3),
    "transpose": lambda x: x.transpose(0, 3),
    "permute": lambda x: x.permute(0, 1, 3),
    "split": lambda x: x.split(1, dim=3),
    "chunk": lambda x: x.chunk(2, dim=-4),
    "concatenate": lambda x: concatenate([x, x], dim=3),
    "stack": lambda x: stack([x, x], dim=4),
    "size": lambda x: x.size(3),
}


@pytest.mark.parametrize("method", list(BAD_DIM))
def test_dim_out_of_range_is_one_line_naming_method_argument_and_shape(method):
    with pytest.raises(IndexError) as info:  # torch raises IndexError; NumPy's AxisError is both
        BAD_DIM[method](t(2, 1, 3))
    assert isinstance(info.value, ValueError)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{method}:") and "(2, 1, 3)" in msg, msg
    assert "dim" in msg, msg


def test_split_sizes_that_do_not_add_up_name_split_sizes_and_shape():
    with pytest.raises(ValueError, match=r"split: sizes \[2, 2\] .* add up to 5.*\(5, 3\)"):
        t(5, 3).split([2, 2])
    with pytest.raises(ValueError, match=r"split: split_size=0 .*\(5, 3\)"):
        t(5, 3).split(0)
    with pytest.raises(ValueError, match=r"chunk: chunks=0 .*\(5, 3\)"):
        t(5, 3).chunk(0)


def test_split_and_chunk_follow_torchs_sizes():
    x = t(7, 2)
    assert [p.shape[0] for p in x.split(3)] == [3, 3, 1]
    assert [p.shape[0] for p in x.split([2, 0, 5])] == [2, 0, 5]
    assert [p.shape[0] for p in x.chunk(3)] == [3, 3, 1]
    assert [p.shape[0] for p in t(6, 2).chunk(4)] == [2, 2, 2]  # fewer chunks, as torch
    q, k, v = t(2, 3, 12).chunk(3, dim=-1)  # nanoGPT's qkv split
    assert q.shape == k.shape == v.shape == (2, 3, 4)


def test_squeeze_of_a_non1_dim_is_a_noop_like_torch():
    x = t(1, 3, 1)
    assert x.squeeze(1).shape == (1, 3, 1)
    assert x.squeeze((0, 1)).shape == (3, 1)
    assert x.squeeze().shape == (3,) and x.squeeze(-1).shape == (1, 3)
    assert x.unsqueeze(-1).shape == (1, 3, 1, 1) and x.unsqueeze(0).shape == (1, 1, 3, 1)


def test_flatten_view_reshape_and_their_errors():
    x = t(2, 3, 4)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.flatten(-2, -1).shape == (2, 12) and Tensor(1.0).flatten().shape == (1,)
    assert x.view(-1, 4).shape == (6, 4) and x.reshape(4, -1).shape == (4, 6)
    with pytest.raises(ValueError, match=r"flatten: start_dim=2 comes after end_dim=1 .*\(2, 3, 4"):
        x.flatten(2, 1)
    with pytest.raises(ValueError, match=r"view: cannot view shape \(2, 3, 4\) as \(5, -1\)"):
        x.view(5, -1)


def test_T_reverses_and_mT_swaps_the_last_two():
    x = t(2, 3, 4)
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)
    with pytest.raises(ValueError, match=r"mT: .*\(4,\)"):
        _ = t(4).mT


def test_expand_is_a_view_and_refuses_a_non1_dim():
    x = t(3, 1)
    y = x.expand(2, -1, 5)
    assert y.shape == (2, 3, 5) and np.shares_memory(y.data, x.data)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((3, 1), 10.0))  # 2 * 5 copies
    with pytest.raises(ValueError, match=r"expand: size 4 at dim 0 does not fit shape \(3, 1\)"):
        x.expand(4, 2)


def test_abs_gradient_at_zero_is_zero_like_torch():
    x = Tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])


def test_clamp_passes_the_gradient_at_its_bounds_like_torch():
    x = Tensor(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), requires_grad=True)
    y = x.clamp(0.0, 1.0)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 0.5, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 0])  # torch 2.13: min <= x <= max
    np.testing.assert_array_equal(x.clip(max=0.0).data, [-1.0, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(F.clamp(x, 3.0, 1.0).data, np.ones(5))  # min > max: max
    with pytest.raises(TypeError, match=r"clamp: give min, max or both .*\(5,\)"):
        x.clamp()


def test_masked_fill_needs_a_boolean_mask_and_cuts_the_gradient_where_filled():
    x = t(2, 3)
    y = x.masked_fill(np.array([True, False, True]), float("-inf"))
    assert np.isneginf(y.data[:, [0, 2]]).all()
    y[:, 1].sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 1, 0]])
    with pytest.raises(TypeError, match=r"masked_fill: mask must be boolean, got int64"):
        x.masked_fill(np.array([1, 0, 1]), 0.0)


def test_float_and_double_keep_the_graph_with_the_gradient_in_the_inputs_dtype():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * 2.0).float().sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
    mask = Tensor(np.array([True, False])).float()  # int/bool -> float: no graph
    assert mask.dtype == np.float32 and not mask.requires_grad


def test_size_is_numpys_count_and_torchs_shape():
    x = t(3, 4)
    assert x.size == 12 and x.size() == (3, 4) and x.size(-1) == 4 and x.size(dim=0) == 3
    assert sum(p.size for p in (x, t(5))) == 17  # nn.Module.num_parameters' spelling
    assert x.numel() == 12 and x.dim() == 2 and x.contiguous() is x


def test_softmax_methods_equal_the_hand_written_F_versions():
    x = t(3, 7)
    np.testing.assert_allclose(x.softmax(-1).data, F.softmax(x).data, rtol=1e-12)
    np.testing.assert_allclose(x.log_softmax(0).data, F.log_softmax(x, 0).data, rtol=1e-12)
    np.testing.assert_allclose(x.logsumexp(1).data, F.logsumexp(x, 1).data, rtol=1e-12)
    row = Tensor(np.full((1, 3), -np.inf))
    assert np.isneginf(row.logsumexp(-1).data).all()  # torch: -inf, not nan


def test_functional_reductions_and_shapes_are_the_tensor_methods():
    x = t(2, 3, 4)
    pairs = {
        "sum": (F.sum(x, 1), x.sum(1)),
        "mean": (F.mean(x, -1, True), x.mean(-1, True)),
        "amax": (F.amax(x, (0, 2)), x.amax((0, 2))),
        "std": (F.std(x, 0, correction=0), x.std(0, correction=0)),
        "abs": (F.abs(x), x.abs()),
        "flatten": (F.flatten(x, 1), x.flatten(1)),
        "unsqueeze": (F.unsqueeze(x, 1), x.unsqueeze(1)),
        "squeeze": (F.squeeze(x[:1]), x[:1].squeeze()),
        "transpose": (F.transpose(x, 0, 2), x.transpose(0, 2)),
        "permute": (F.permute(x, (2, 0, 1)), x.permute(2, 0, 1)),
        "reshape": (F.reshape(x, (4, -1)), x.reshape(4, -1)),
        "split": (F.split(x, 2, dim=2)[1], x.split(2, 2)[1]),
        "chunk": (F.chunk(x, 2, 1)[0], x.chunk(2, 1)[0]),
        "masked_fill": (F.masked_fill(x, x.data > 0, 0.0), x.masked_fill(x.data > 0, 0.0)),
    }
    for name, (f, m) in pairs.items():
        np.testing.assert_array_equal(f.data, m.data, err_msg=name)
