"""Bad input at the entry points of the lower layers (tensor, ops, F, nn layers, optimizers,
scheduler): one case per kind, each an error that names the argument, the value and what was
expected, never NumPy's or Python's message from deep inside; and nothing left changed when a
call is refused. docs/errors.md lists these kinds with the other suites' (checkpoints, CLI,
generation, tokenizers) and the message each gives."""

import math
from pathlib import Path

import numpy as np
import pytest

import minillm.functional as F
from minillm import nn
from minillm.optim import SGD, Adam, AdamW, WarmupCosineLR, clip_grad_norm_
from minillm.tensor import Tensor, where


def t(*shape):
    return Tensor(np.ones(shape, np.float32))


def params():
    return [Tensor(np.ones(3, np.float32), requires_grad=True)]


def qkv():
    return t(1, 2, 3), t(1, 4, 3), t(1, 4, 3)


# kind -> (call, error type, the words its message must contain)
KINDS = {
    "tensor_of_strings": (lambda: Tensor("abc"), TypeError, "Tensor: data must be numbers"),
    "tensor_of_mixed_objects": (lambda: Tensor([1, "a"]), TypeError, "got dtype <U"),
    "tensor_unknown_device": (
        lambda: Tensor([1.0], device="tpu"),
        ValueError,
        "unknown device 'tpu'; expected 'cpu' or 'cuda'",
    ),
    "grad_of_an_integer_tensor": (
        lambda: Tensor(np.array([1, 2]), requires_grad=True),
        TypeError,
        "only floating-point tensors can require grad; got dtype int64",
    ),
    "index_out_of_range": (
        lambda: t(2, 3)[5],
        IndexError,
        r"getitem: index 5 is out of bounds for axis 0 with size 2 \(tensor of shape \(2, 3\)\)",
    ),
    "item_of_many_elements": (
        lambda: t(2, 3).item(),
        ValueError,
        r"item\(\): needs a one-element tensor, got shape \(2, 3\)",
    ),
    "truth_of_many_elements": (
        lambda: bool(t(2, 3)),
        ValueError,
        r"bool\(\): the truth of shape \(2, 3\) is ambiguous",
    ),
    "where_shapes_clash": (
        lambda: where(np.ones(3, bool), t(2), t(3)),
        ValueError,
        r"where: cond \(3,\), \(2,\), \(3,\) mismatch",
    ),
    "max_over_an_empty_axis": (
        lambda: t(3, 0).max(dim=1),
        ValueError,
        r"max: cannot reduce shape \(3, 0\) over dim 1 of size 0",
    ),
    "amax_of_an_empty_tensor": (
        lambda: F.amax(t(0, 2)),
        ValueError,
        r"amax: cannot reduce shape \(0, 2\) over all dims",
    ),
    "argmax_over_an_empty_axis": (
        lambda: t(3, 0).argmax(1),
        ValueError,
        r"argmax: cannot reduce shape \(3, 0\) over dim 1",
    ),
    "var_correction_not_a_number": (
        lambda: F.var(t(3), correction="a"),
        TypeError,
        r"var\(\) correction='a': expected a number",
    ),
    "attention_dropout_p_out_of_range": (
        lambda: F.scaled_dot_product_attention(*qkv(), dropout_p=1.5),
        ValueError,
        r"attention: dropout_p must be a number in \[0, 1\], got 1.5",
    ),
    "attention_scale_not_a_number": (
        lambda: F.scaled_dot_product_attention(*qkv(), scale="x"),
        TypeError,
        "attention: scale must be a number or None, got 'x'",
    ),
    "dropout_p_not_a_number_even_in_eval": (
        lambda: F.dropout(t(3), "0.5", training=False),
        ValueError,
        r"dropout: p must be a number in \[0, 1\], got '0.5'",
    ),
    "linear_size_not_an_int": (
        lambda: nn.Linear(2.5, 3),
        TypeError,
        "Linear: in_features must be an int >= 0, got 2.5",
    ),
    "linear_negative_size": (
        lambda: nn.Linear(4, -3),
        ValueError,
        "Linear: out_features must be >= 0, got -3",
    ),
    "embedding_negative_size": (
        lambda: nn.Embedding(-1, 3),
        ValueError,
        "Embedding: num_embeddings must be >= 0, got -1",
    ),
    "layer_norm_shape_not_an_int": (
        lambda: nn.LayerNorm("4"),
        TypeError,
        "LayerNorm: normalized_shape must be an int >= 0, got '4'",
    ),
    "dropout_layer_p_out_of_range": (
        lambda: nn.Dropout("0.1"),
        ValueError,
        r"Dropout: p must be a number in \[0, 1\), got '0.1'",
    ),
    "optimizer_hyper_parameter_not_a_number": (
        lambda: SGD(params(), lr="0.1"),
        TypeError,
        "invalid lr='0.1'; expected a number",
    ),
    "optimizer_lr_missing": (
        lambda: AdamW(params(), lr=None),
        TypeError,
        "invalid lr=None; expected a number",
    ),
    "adam_betas_not_a_pair": (
        lambda: Adam(params(), betas=0.9),
        ValueError,
        r"betas must be a pair \(beta1, beta2\), got 0.9",
    ),
    "adam_beta_not_a_number": (
        lambda: Adam(params(), betas=(0.9, "0.999")),
        ValueError,
        "invalid beta2='0.999'; expected 0 <= beta2 < 1",
    ),
    "clip_max_norm_not_a_number": (
        lambda: clip_grad_norm_(params(), "1.0"),
        ValueError,
        "max_norm='1.0' must be a number >= 0",
    ),
    "clip_norm_type_unknown": (
        lambda: clip_grad_norm_(params(), 1.0, norm_type="fro"),
        ValueError,
        "norm_type='fro' must be a number > 0 or math.inf",
    ),
    "scheduler_iterations_not_ints": (
        lambda: WarmupCosineLR(SGD(params(), lr=0.1), 1.5, 10, 0.0),
        TypeError,
        "warmup_iters must be an int, got 1.5",
    ),
    "scheduler_min_lr_not_a_number": (
        lambda: WarmupCosineLR(SGD(params(), lr=0.1), 1, 10, "0"),
        TypeError,
        "min_lr must be a number, got '0'",
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_bad_input_is_one_clear_error(kind):
    call, error, words = KINDS[kind]
    with pytest.raises(error, match=words):
        call()


def test_a_refused_scheduler_leaves_the_optimizer_as_it_was():
    """min_lr above the base lr: refused before the groups get their "initial_lr" key"""
    opt = SGD(params(), lr=0.1)
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError, match=r"min_lr=1.0 must lie in \[0, 0.1\]"):
        WarmupCosineLR(opt, 1, 10, 1.0)
    assert [dict(g) for g in opt.param_groups] == before


def test_a_refused_param_group_leaves_the_optimizer_as_it_was():
    opt = SGD(params(), lr=0.1)
    with pytest.raises(TypeError, match="invalid momentum='0.9'"):
        opt.add_param_group({"params": params(), "momentum": "0.9"})
    assert len(opt.param_groups) == 1


def test_zero_sized_layers_work_as_in_torch():
    """Linear(0, 3) is y = b (torch's init leaves a zero fan-in alone, no 1/sqrt(0))"""
    layer = nn.Linear(0, 3)
    assert np.isfinite(layer.b.data).all() and (layer.b.data == 0).all()
    np.testing.assert_array_equal(layer(t(2, 0)).data, np.zeros((2, 3), np.float32))
    assert nn.Embedding(0, 3).W.shape == (0, 3)
    assert math.isclose(F.layer_norm(t(2, 0), 0).numel(), 0)


def test_every_kind_here_is_listed_in_docs_errors_md():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [kind for kind in KINDS if f"[{kind}]" not in doc]
    assert not missing, f"kinds not listed in docs/errors.md: {missing}"
