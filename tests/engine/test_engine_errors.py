"""Bad input raises a clear error naming what was wrong: the op, the shapes, the ids, the keys."""

import numpy as np
import pytest

import minillm.functional as F
from minillm.nn import Embedding, LayerNorm, Linear, Module, ModuleList
from minillm.tensor import Tensor, concatenate, stack


def t(*shape):
    return Tensor(np.zeros(shape, dtype=np.float32), requires_grad=True)


@pytest.mark.parametrize(
    "a,b", [((3, 4), (5, 2)), ((2, 3, 4), (3, 4)), ((4,), (5,)), ((2, 3), (7,))]
)
def test_matmul_inner_dimension_mismatch_names_op_and_both_shapes(a, b):
    with pytest.raises(ValueError) as info:
        t(*a) @ t(*b)
    msg = str(info.value)
    assert "matmul" in msg and str(a) in msg and str(b) in msg, msg


def test_matmul_batch_mismatch_names_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3, 4\).*\(5, 4, 2\)"):
        t(2, 3, 4) @ t(5, 4, 2)


def test_matmul_of_a_scalar_is_refused():
    with pytest.raises(ValueError, match="matmul"):
        t() @ t(3)


@pytest.mark.parametrize(
    "op,fn",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
    ],
)
def test_broadcast_mismatch_names_op_and_both_shapes(op, fn):
    with pytest.raises(ValueError) as info:
        fn(t(3, 4), t(5))
    msg = str(info.value)
    assert op in msg and "(3, 4)" in msg and "(5,)" in msg, msg


@pytest.mark.parametrize("join", [concatenate, stack])
def test_concatenate_and_stack_mismatch_name_op_and_all_shapes(join):
    with pytest.raises(ValueError) as info:
        join([t(2, 3), t(2, 4)], axis=0)
    msg = str(info.value)
    assert join.__name__ in msg and "(2, 3)" in msg and "(2, 4)" in msg, msg


def test_reshape_to_a_wrong_size_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        t(2, 3).reshape(4, 2)


@pytest.mark.parametrize("bad", [7, -1, 100])
def test_embedding_out_of_range_id_names_the_id_and_the_valid_range(bad):
    ids = np.array([[0, 2], [bad, 1]])
    for call in (lambda: F.embedding(ids, t(7, 3)), lambda: Embedding(7, 3)(ids)):
        with pytest.raises(IndexError) as info:
            call()
        msg = str(info.value)
        assert str(bad) in msg and "[0, 7)" in msg and "embedding" in msg, msg


def test_embedding_refuses_float_ids():
    with pytest.raises(TypeError, match="integers"):
        F.embedding(np.array([0.0, 1.0]), t(3, 2))


@pytest.mark.parametrize("bad", [5, -1, -7])
def test_cross_entropy_out_of_range_target_names_the_id_position_and_range(bad):
    targets = np.array([0, -100, bad, 1])  # -100 is ignored, not out of range
    with pytest.raises(IndexError) as info:
        F.cross_entropy(t(4, 5), targets)
    msg = str(info.value)
    assert "cross_entropy" in msg and f"id {bad}" in msg and "[0, 5)" in msg, msg
    assert "position 2" in msg, msg


def test_cross_entropy_shape_and_reduction_errors():
    with pytest.raises(ValueError, match=r"\(2, 3, 5\).*\(2, 3\)"):
        F.cross_entropy(t(2, 3, 5), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(t(2, 5), np.zeros(2, dtype=int), reduction="avg")


def test_backward_on_a_non_scalar_raises_and_names_the_shape():
    with pytest.raises(RuntimeError, match=r"scalar.*\(4, 1\)"):
        (t(4, 1) * 2.0).backward()


class Two(Module):
    def __init__(self):
        super().__init__()
        self.enc = Linear(3, 4)
        self.blocks = ModuleList([LayerNorm(4), Linear(4, 2, bias=False)])


def test_load_state_dict_names_missing_and_unexpected_keys():
    m = Two()
    state = dict(m.state_dict())
    del state["blocks.0.beta"]
    state["blocks.7.W"] = np.zeros((1,))
    with pytest.raises(KeyError) as info:
        m.load_state_dict(state)
    msg = str(info.value)
    assert "blocks.0.beta" in msg and "blocks.7.W" in msg, msg


def test_load_state_dict_names_a_mis_shaped_key_and_both_shapes():
    m = Two()
    state = {k: v.copy() for k, v in m.state_dict().items()}
    state["enc.W"] = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError) as info:
        m.load_state_dict(state)
    msg = str(info.value)
    assert "enc.W" in msg and "(4, 3)" in msg and "(3, 4)" in msg, msg


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    m = Two()
    missing, unexpected = m.load_state_dict(
        {"enc.b": np.ones(4), "extra": np.ones(1)}, strict=False
    )
    assert "enc.W" in missing and unexpected == ["extra"]
    np.testing.assert_array_equal(m.enc.b.data, np.ones(4))


def test_linear_with_the_wrong_input_width_names_both_widths():
    with pytest.raises(ValueError) as info:
        Linear(5, 3)(t(2, 4))
    msg = str(info.value)
    assert "Linear" in msg and "4" in msg and "5" in msg and "(2, 4)" in msg, msg


def test_layer_norm_with_a_wrong_normalized_shape_or_gamma_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(6,\).*\(2, 5\)"):
        F.layer_norm(t(2, 5), 6)
    with pytest.raises(ValueError, match=r"gamma.*\(4,\).*\(5,\)"):
        F.layer_norm(t(2, 5), 5, weight=t(4))


def test_attention_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 4\).*\(1, 2, 5, 3\)"):
        F.scaled_dot_product_attention(t(1, 2, 3, 4), t(1, 2, 5, 3), t(1, 2, 5, 3))
    with pytest.raises(ValueError, match=r"mask shape \(4, 5\)"):
        F.scaled_dot_product_attention(
            t(1, 1, 3, 2), t(1, 1, 5, 2), t(1, 1, 5, 2), attn_mask=np.ones((4, 5), dtype=bool)
        )


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5"])  # p = 1 gives 0, as torch
def test_dropout_probability_outside_0_1_is_refused(p):
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(t(3), p)


def test_gelu_unknown_approximation_is_refused():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(t(3), approximate="fast")


def test_pow_with_a_tensor_exponent_is_refused():
    with pytest.raises(TypeError, match="exponent"):
        t(3) ** t(3)


def test_cross_entropy_refuses_float_targets():
    with pytest.raises(TypeError, match="cross_entropy.*float64"):
        F.cross_entropy(t(2, 3), np.array([0.0, 1.0]))
