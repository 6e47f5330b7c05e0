"""The op-case table shared by the engine tests: one or more small cases per op of the op table.

Each case names the op it exercises (a key of `minillm.tensor.PRIMITIVES` or
`minillm.ops.OP_TABLE`), a function of Tensors built from minillm's public API, and a factory for
its inputs in a given dtype. test_gradcheck_ops.py runs every case through `gradcheck` in float64;
test_engine_dtypes.py runs them in float32 to check that no op leaks float64. Shapes are ragged
and small (a gradcheck costs two forward passes per input element).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import minillm.functional as F
from minillm.tensor import Tensor, cat, concatenate, stack, where


@dataclass(frozen=True)
class Case:
    op: str  # the op-table name this case exercises
    name: str  # what is special about it
    fn: Callable  # Tensors -> Tensor
    make: Callable  # (rng, dtype) -> list of inputs (Tensors; only some require grad)
    tags: tuple = field(default=())  # "random": the op draws random numbers (fixed seed inside)

    @property
    def id(self):
        return f"{self.op}-{self.name}"


def normal(*shape):
    """(rng, dtype) -> a Tensor of N(0, 1) values that requires grad"""
    return lambda rng, dtype: Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


def uniform(lo, hi, *shape):
    """(rng, dtype) -> a Tensor of U(lo, hi) values that requires grad"""
    return lambda rng, dtype: Tensor(rng.uniform(lo, hi, shape).astype(dtype), requires_grad=True)


def away_from_zero(*shape):
    """(rng, dtype) -> values in +-[0.1, 2], so a kink at 0 (relu) is never within eps"""

    def make(rng, dtype):
        x = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        return Tensor(x.astype(dtype), requires_grad=True)

    return make


def const(array):
    """(rng, dtype) -> a fixed Tensor (no grad), e.g. a mask or integer ids"""
    return lambda rng, dtype: Tensor(np.asarray(array))


def fixed(values):
    """(rng, dtype) -> a Tensor of the given values that requires grad (e.g. ties for max)"""
    return lambda rng, dtype: Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def case(op, name, fn, *makers, tags=()):
    return Case(op, name, fn, lambda rng, dtype: [m(rng, dtype) for m in makers], tags)


# Two-way ties only: a central difference at a 2-way tie sees slope 1/2, the shared subgradient.
TIES = [[1.0, 3.0, 3.0, 0.5], [2.0, -1.0, 0.0, 2.0], [0.25, 0.5, 0.75, -4.0]]
REPEATED = np.array([0, 2, 0, 0, 3])  # an integer index that names row 0 three times
CAUSAL_ROW_MASK = np.ones((1, 1, 4, 5), dtype=bool)
CAUSAL_ROW_MASK[..., 2, :] = False  # query 2 may attend to nothing: its output is 0
PAD_MASK = np.random.default_rng(7).random((2, 1, 4, 5)) > 0.3
PAD_MASK[..., 0] = True  # every query keeps one key
FLOAT_MASK = np.where(np.random.default_rng(8).random((4, 5)) > 0.4, 0.0, -1e9)
FLOAT_MASK[:, 1] = 0.0
CE_TARGETS = np.array([3, -100, 0, 6, 6, -100, 1])  # N = 7 rows, V = 7, two ignored


def attn(**kw):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)


def drop(p, seed):
    """dropout with a fresh generator of a fixed seed: the same mask on every call"""
    return lambda x: F.dropout(x, p, rng=np.random.default_rng(seed))


CASES = [
    # ---- primitives ------------------------------------------------------------------------
    case("add", "same_shape", lambda a, b: a + b, normal(3, 5), normal(3, 5)),
    case("add", "broadcast", lambda a, b: a + b, normal(3, 1, 5), normal(4, 5)),
    case("add", "scalar_0d", lambda a, b: a + b, normal(2, 3), normal()),
    case("sub", "broadcast", lambda a, b: a - b, normal(4, 5), normal(5)),
    case("sub", "one_element", lambda a, b: a - b, normal(1), normal(3, 1)),
    case("mul", "broadcast_both", lambda a, b: a * b, normal(2, 3, 1), normal(1, 3, 4)),
    case("mul", "same_input", lambda a: a * a, normal(3, 4)),
    case("div", "broadcast", lambda a, b: a / b, normal(3, 4), uniform(0.5, 2.0, 3, 1)),
    case("div", "negative_divisor", lambda a, b: a / b, normal(5), uniform(-2.0, -0.5, 1)),
    case("neg", "plain", lambda a: -a, normal(3, 7)),
    case("pow", "cube_mixed_signs", lambda a: a**3, normal(2, 5)),
    case("pow", "sqrt", lambda a: a.sqrt(), uniform(0.5, 3.0, 4, 3)),
    case("pow", "negative_fraction", lambda a: a**-1.5, uniform(0.5, 3.0, 7)),
    case("pow", "0d", lambda a: a**2, normal()),
    case("exp", "plain", lambda a: a.exp(), normal(3, 5)),
    case("log", "plain", lambda a: a.log(), uniform(0.2, 5.0, 2, 7)),
    case("tanh", "plain", lambda a: a.tanh(), normal(6, 1)),
    case("matmul", "2d", lambda a, b: a @ b, normal(3, 4), normal(4, 5)),
    case("matmul", "batched_broadcast", lambda a, b: a @ b, normal(2, 1, 3, 4), normal(5, 4, 2)),
    case("matmul", "3d_at_2d", lambda a, b: a @ b, normal(2, 3, 4), normal(4, 5)),
    case("matmul", "1d_at_3d", lambda a, b: a @ b, normal(4), normal(2, 4, 3)),
    case("matmul", "3d_at_1d", lambda a, b: a @ b, normal(2, 3, 4), normal(4)),
    case("matmul", "1d_at_1d", lambda a, b: a @ b, normal(5), normal(5)),
    case("matmul", "1d_at_2d", lambda a, b: a @ b, normal(4), normal(4, 3)),
    case("matmul", "1x1", lambda a, b: a @ b, normal(1, 1), normal(1, 3)),
    case("sum", "all", lambda a: a.sum(), normal(3, 4)),
    case("sum", "axes_keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True), normal(3, 2, 5)),
    case("sum", "negative_axis", lambda a: a.sum(axis=-1), normal(2, 3, 5)),
    case("sum", "mean", lambda a: a.mean(axis=1), normal(3, 7)),
    case("max", "unique_all", lambda a: a.max(), normal(3, 5)),
    case("max", "axis_keepdims", lambda a: a.max(axis=0, keepdims=True), normal(4, 3)),
    case("max", "two_way_ties", lambda a: a.max(axis=1), fixed(TIES)),
    case("reshape", "merge", lambda a: a.reshape(5, 12), normal(3, 4, 5)),
    case("reshape", "flatten", lambda a: a.reshape(-1), normal(2, 3)),
    case("transpose", "reverse", lambda a: a.T, normal(3, 5)),
    case("transpose", "permute", lambda a: a.permute(2, 0, 1), normal(2, 3, 4)),
    case("getitem", "slices", lambda a: a[1:, ::2], normal(4, 5)),
    case("getitem", "repeated_ints", lambda a: a[REPEATED], normal(4, 3)),
    case("getitem", "int_and_slice", lambda a: a[np.array([[1, 1], [0, 2]]), 1:3], normal(3, 4)),
    case("getitem", "negative_int", lambda a: a[-1], normal(3, 4)),
    case("getitem", "ellipsis_newaxis", lambda a: a[..., None, 1], normal(2, 3, 4)),
    case("getitem", "bool_mask", lambda a: a[np.array([True, False, True])], normal(3, 2)),
    case(
        "where",
        "broadcast",
        lambda c, a, b: where(c, a, b),
        const(np.array(TIES) > 1),
        normal(3, 4),
        normal(4),
    ),
    case("where", "scalar_branch", lambda a: where(a.data > 0, a, 0.0), away_from_zero(5, 3)),
    case(
        "concatenate",
        "axis0",
        lambda a, b, c: concatenate([a, b, c]),
        normal(2, 3),
        normal(4, 3),
        normal(1, 3),
    ),
    case(
        "concatenate",
        "axis_last",
        lambda a, b: concatenate([a, b], axis=-1),
        normal(2, 3),
        normal(2, 1),
    ),
    case(
        "stack",
        "axis1",
        lambda a, b, c: stack([a, b, c], axis=1),
        normal(2, 3),
        normal(2, 3),
        normal(2, 3),
    ),
    case("stack", "one", lambda a: stack([a]), normal(5)),
    case("stack", "dim_new_last", lambda a, b: stack([a, b], dim=-1), normal(2, 3), normal(2, 3)),
    case(
        "concatenate", "cat_dim_neg", lambda a, b: cat([a, b], dim=-2), normal(1, 3), normal(4, 3)
    ),
    case("astype", "roundtrip", lambda a: a.double().type_as(a), normal(3, 4)),
    case(
        "astype", "through_float64", lambda a: (a.astype("float64") ** 2).type_as(a), normal(2, 5)
    ),
    case("expand", "size1_and_new_axes", lambda a: a.expand(2, 3, 5, -1), normal(3, 1, 4)),
    case("expand", "no_change", lambda a: a.expand(-1, 4), normal(3, 4)),
    case("expand", "0d_to_2d", lambda a: a.expand(2, 3), normal()),
    # ---- the PyTorch-shaped Tensor methods, each built on the primitive it names --------------
    case("reshape", "view_minus_one", lambda a: a.view(-1, 5), normal(2, 3, 5)),
    case("reshape", "unsqueeze_neg", lambda a: a.unsqueeze(-2), normal(3, 4)),
    case("reshape", "squeeze_all", lambda a: a.squeeze(), normal(1, 3, 1, 4)),
    case("reshape", "squeeze_dims", lambda a: a.squeeze((0, 1)), normal(1, 3, 1, 4)),
    case("reshape", "flatten_mid", lambda a: a.flatten(1, -2), normal(2, 3, 4, 2)),
    case("transpose", "dims_neg", lambda a: a.transpose(-1, 0), normal(2, 3, 4)),
    case("transpose", "mT", lambda a: a.mT, normal(2, 3, 4)),
    case(
        "getitem",
        "split_sections",
        lambda a: cat([p.flatten() for p in a.split([2, 0, 3], dim=-1)]),
        normal(3, 5),
    ),
    case("getitem", "chunk_ragged", lambda a: a.chunk(3, dim=0)[-1], normal(7, 2)),
    case("getitem", "max_dim_values", lambda a: a.max(dim=-1).values, normal(4, 5)),
    case("getitem", "min_dim_keepdim", lambda a: a.min(0, keepdim=True)[0], normal(4, 3)),
    case("max", "amin_dims", lambda a: a.amin(dim=(0, 2)), normal(3, 2, 4)),
    case("max", "min_all", lambda a: a.min(), normal(3, 5)),
    case("mul", "abs", lambda a: a.abs(), away_from_zero(4, 5)),
    case("where", "clamp", lambda a: a.clamp(-0.5, 0.8), normal(5, 4)),
    case("where", "clamp_tensor_bounds", lambda a, lo: a.clamp(min=lo), normal(3, 4), normal(4)),
    case(
        "where",
        "masked_fill_causal",
        lambda a: a.masked_fill(np.triu(np.ones((4, 4), dtype=bool), 1), -1e9).softmax(-1),
        normal(2, 4, 4),
    ),
    case("sum", "var_unbiased", lambda a: a.var(dim=1), normal(4, 6)),
    case("sum", "var_biased_keepdim", lambda a: a.var(0, keepdim=True, correction=0), normal(5, 3)),
    case("sum", "std_all", lambda a: a.std(), normal(3, 4)),
    case("exp", "softmax_method", lambda a: a.softmax(dim=0), normal(5, 3)),
    case("exp", "log_softmax_method", lambda a: a.log_softmax(-1), normal(3, 7)),
    case("exp", "logsumexp_method_dims", lambda a: a.logsumexp(dim=(0, 2)), normal(3, 2, 4)),
    # ---- composites --------------------------------------------------------------------------
    case("relu", "plain", F.relu, away_from_zero(3, 7)),
    case("sigmoid", "plain", F.sigmoid, normal(4, 5)),
    case("sigmoid", "saturated", F.sigmoid, fixed([-30.0, -8.0, 0.0, 8.0, 30.0])),
    case("gelu", "erf", lambda x: F.gelu(x), uniform(-4.0, 4.0, 5, 7)),
    case("gelu", "tanh", lambda x: F.gelu(x, approximate="tanh"), uniform(-4.0, 4.0, 5, 7)),
    case("gelu", "one_element", F.gelu, normal(1)),
    case("gelu", "0d_erf", F.gelu, normal()),
    case("gelu", "0d_tanh", lambda x: F.gelu(x, approximate="tanh"), normal()),
    case("relu", "0d", F.relu, fixed(-0.5)),
    case("sigmoid", "0d", F.sigmoid, normal()),
    case("softmax", "last_axis", F.softmax, normal(3, 2, 7)),
    case("softmax", "axis0", lambda x: F.softmax(x, dim=0), normal(5, 3)),
    case("softmax", "one_class", F.softmax, normal(4, 1)),
    case("log_softmax", "last_axis", F.log_softmax, normal(4, 9)),
    case("log_softmax", "axis0", lambda x: F.log_softmax(x, dim=0), normal(5, 3)),
    case("logsumexp", "drop_axis", F.logsumexp, normal(3, 7)),
    case("logsumexp", "keepdim_axis0", lambda x: F.logsumexp(x, dim=0, keepdim=True), normal(5, 3)),
    case(
        "layer_norm",
        "affine",
        lambda x, g, b: F.layer_norm(x, 10, g, b),
        normal(2, 3, 10),
        uniform(0.5, 1.5, 10),
        normal(10),
    ),
    case("layer_norm", "no_bias", lambda x, g: F.layer_norm(x, 7, g), normal(3, 7), normal(7)),
    case("layer_norm", "no_affine", lambda x: F.layer_norm(x, 6), normal(4, 6)),
    case(
        "cross_entropy",
        "mean_ignore",
        lambda z, y: F.cross_entropy(z, y),
        normal(7, 7),
        const(CE_TARGETS),
    ),
    case(
        "cross_entropy",
        "sum",
        lambda z, y: F.cross_entropy(z, y, reduction="sum"),
        normal(7, 7),
        const(CE_TARGETS),
    ),
    case(
        "cross_entropy",
        "none",
        lambda z, y: F.cross_entropy(z, y, reduction="none"),
        normal(7, 7),
        const(CE_TARGETS),
    ),
    case(
        "cross_entropy",
        "custom_ignore",
        lambda z, y: F.cross_entropy(z, y, ignore_index=6),
        normal(7, 7),
        const(CE_TARGETS.clip(0)),
    ),
    case("cross_entropy", "one_row", lambda z, y: F.cross_entropy(z, y), normal(1, 3), const([2])),
    case(
        "embedding",
        "repeated_ids",
        lambda ids, W: F.embedding(ids, W),
        const([[3, 1, 3], [0, 3, 4]]),
        normal(5, 4),
    ),
    case("embedding", "one_id", lambda ids, W: F.embedding(ids, W), const([0]), normal(1, 3)),
    case("dropout", "p0.3", drop(0.3, 11), normal(4, 7), tags=("random",)),
    case("attention", "plain", attn(), normal(1, 2, 4, 3), normal(1, 2, 5, 3), normal(1, 2, 5, 2)),
    case(
        "attention",
        "causal",
        attn(is_causal=True),
        normal(1, 2, 5, 3),
        normal(1, 2, 5, 3),
        normal(1, 2, 5, 3),
    ),
    case(
        "attention",
        "bool_mask",
        attn(attn_mask=PAD_MASK),
        normal(2, 1, 4, 3),
        normal(2, 1, 5, 3),
        normal(2, 1, 5, 2),
    ),
    case(
        "attention",
        "float_mask_scale",
        attn(attn_mask=FLOAT_MASK, scale=0.7),
        normal(1, 1, 4, 3),
        normal(1, 1, 5, 3),
        normal(1, 1, 5, 3),
    ),
    case(
        "attention",
        "fully_masked_row",
        attn(attn_mask=CAUSAL_ROW_MASK),
        normal(1, 1, 4, 2),
        normal(1, 1, 5, 2),
        normal(1, 1, 5, 3),
    ),
    case(
        "attention",
        "dropout",
        lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, dropout_p=0.25, rng=np.random.default_rng(3)
        ),
        normal(1, 2, 4, 3),
        normal(1, 2, 5, 3),
        normal(1, 2, 5, 2),
        tags=("random",),
    ),
]
