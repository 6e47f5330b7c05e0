"""Every op, basic layer and PyTorch-shaped Tensor method against PyTorch 2.13
(tests/fixtures/ops.npz), forward and gradients.

The fixtures come from tests/fixtures/make_ops_fixtures.py (float32 inputs, L = sum(out * dout)
for a stored dout; a method that returns a tuple stores each output). Here each case is rebuilt
with minillm only, in the fixture's dtypes, and compared with conftest.TOLERANCES of that dtype;
integer outputs (max(dim)'s indices) must be equal.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import minillm.functional as F
from minillm.nn import Embedding, LayerNorm, Linear
from minillm.ops import OP_TABLE
from minillm.tensor import PRIMITIVES, Tensor, ValuesIndices, concatenate, stack, where

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ops.npz"


def load_fixtures():
    with np.load(FIXTURES, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


DATA = load_fixtures()
CASES = sorted({k.split("/")[0] for k in DATA})


def decode_index(spec, inputs):
    """The Python index that a getitem spec names (same decoder as in the fixture script)."""
    parts = []
    for kind, *args in spec:
        if kind == "slice":
            parts.append(slice(*args))
        elif kind == "int":
            parts.append(args[0])
        elif kind == "array":
            parts.append(inputs[args[0]].data)
        else:
            parts.append(None)
    return tuple(parts)


def linear(x, W, b=None):
    layer = Linear(*W.shape, bias=b is not None)
    layer.load_state_dict({"W": W.data} | ({"b": b.data} if b is not None else {}))
    return layer(x), {"W": layer.W, "b": layer.b}


def embedding(ids, W):
    layer = Embedding(*W.shape)
    layer.load_state_dict({"W": W.data})
    return layer(ids), {"W": layer.W}


def layer_norm(x, gamma, beta=None):
    layer = LayerNorm(x.shape[-1], bias=beta is not None)
    layer.load_state_dict({"gamma": gamma.data} | ({"beta": beta.data} if beta is not None else {}))
    return layer(x), {"gamma": layer.gamma, "beta": layer.beta}


LAYERS = {"nn.Linear": linear, "nn.Embedding": embedding, "nn.LayerNorm": layer_norm}

# our op name -> minillm function of (*inputs, **kwargs with torch's names)
OURS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "pow": lambda a, exponent: a**exponent,
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "tanh": lambda a: a.tanh(),
    "matmul": lambda a, b: a @ b,
    "sum": lambda a, dim=None, keepdim=False: a.sum(None if dim is None else tuple(dim), keepdim),
    "max": lambda a, dim=None, keepdim=False: a.amax(dim, keepdim),  # torch.amax: ties share
    "reshape": lambda a, shape: a.reshape(shape),
    "transpose": lambda a, dims: a.permute(dims),
    "where": lambda cond, a, b: where(cond, a, b),
    "concatenate": lambda *ts, dim: concatenate(ts, axis=dim),
    "stack": lambda *ts, dim: stack(ts, axis=dim),
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "gelu": F.gelu,
    "softmax": F.softmax,
    "log_softmax": F.log_softmax,
    "logsumexp": F.logsumexp,
    "layer_norm": F.layer_norm,
    "cross_entropy": F.cross_entropy,
    "perplexity": lambda input, target: F.cross_entropy(input, target).exp(),
    "embedding": F.embedding,
    "attention": F.scaled_dot_product_attention,
    "astype": lambda a, dtype: a.astype(dtype),
    "expand": lambda a, sizes: a.expand(*sizes),
}

# "Tensor.<name>" cases call our method of that name with torch's keyword arguments; these need
# their arguments passed on differently (positional-only in torch, or a list of tensors)
METHODS = {
    "Tensor.view": lambda a, size: a.view(size),
    "Tensor.reshape": lambda a, shape: a.reshape(shape),
    "Tensor.permute": lambda a, dims: a.permute(dims),
    "Tensor.split": lambda a, split_size, dim: a.split(split_size, dim),
    "Tensor.mT": lambda a: a.mT,
    "Tensor.T": lambda a: a.T,
    "Tensor.cat": lambda *ts, dim: F.cat(ts, dim=dim),
    "Tensor.stack": lambda *ts, dim: F.stack(ts, dim=dim),
}
POSITIONAL = set(PRIMITIVES) | {"astype", "expand"}


def our_method(op):
    return METHODS.get(op) or (lambda a, *rest, **kw: getattr(a, op[len("Tensor.") :])(*rest, **kw))


def our_output(op, kwargs, inputs):
    """minillm's output (a Tensor or a tuple of them) and the tensors whose gradient counts."""
    if op in LAYERS:
        out, layer_params = LAYERS[op](*inputs.values())
        return out, {**inputs, **layer_params}  # gradients of the layer's own Parameters
    if op == "getitem":
        return inputs["a"][decode_index(kwargs["index"], inputs)], inputs
    if op in POSITIONAL:
        return OURS[op](*inputs.values(), **kwargs), inputs
    if op.startswith("Tensor."):
        return our_method(op)(*inputs.values(), **kwargs), inputs
    return OURS[op](**inputs, **kwargs), inputs


def run_case(case):
    """minillm's output (a Tensor, or a tuple for split/chunk/max(dim)) and {input name: gradient}
    for a fixture case, in the fixture's dtypes; L = sum_k sum(out_k * dout_k)."""
    config = json.loads(str(DATA[f"{case}/config"]))
    inputs = {
        k: Tensor(DATA[f"{case}/in/{k}"].copy(), requires_grad=k in config["grads"])
        for k in config["inputs"]
    }
    out, params = our_output(config["op"], config["kwargs"], inputs)
    if "n_out" not in config:
        out.backward(DATA[f"{case}/dout"])
    else:
        assert isinstance(out, tuple) and len(out) == config["n_out"], f"{case}: {len(out)} outputs"
        parts = [(o * DATA[f"{case}/dout/{k}"]).sum() for k, o in enumerate(out) if o.requires_grad]
        if parts:
            sum(parts[1:], parts[0]).backward()  # L = sum_k sum(out_k * dout_k)
    return out, {k: params[k].grad for k in config["grads"]}


def expected_outputs(case):
    """{key: array} of torch's outputs: "<case>/out", or "<case>/out/<k>" for each output k."""
    keys = [k for k in DATA if k == f"{case}/out" or k.startswith(f"{case}/out/")]
    return {k: DATA[k] for k in sorted(keys, key=lambda k: (len(k), k))}


def check_outputs(case, out, close):
    """Each output's dtype and values against torch's; integer outputs exactly."""
    outs = out if isinstance(out, tuple) else (out,)
    expected = expected_outputs(case)
    assert len(outs) == len(expected), f"{case}: {len(outs)} outputs, torch gave {len(expected)}"
    for o, (key, want) in zip(outs, expected.items()):
        assert o.dtype == want.dtype, f"{key}: dtype {o.dtype}, torch's {want.dtype}"
        if want.dtype.kind == "f":
            close(o.data, want, f"{key} forward")
        else:
            np.testing.assert_array_equal(o.data, want, err_msg=key)


def test_fixture_file_covers_every_op_and_layer():
    ops = {json.loads(str(DATA[f"{c}/config"]))["op"] for c in CASES}
    missing = (set(PRIMITIVES) | set(OP_TABLE) | set(LAYERS)) - ops - {"dropout"}
    # dropout's mask comes from each library's own generator; gradcheck and the statistical
    # tests in test_nn_basics.py cover it
    assert not missing, f"ops without a PyTorch fixture: {sorted(missing)}"


# var of one element with correction 1 divides 0 by 0: nan, as torch, and NumPy warns on the way
# back (torch warns "degrees of freedom is <= 0" on the way forward)
ZERO_DOF = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def marked(cases):
    return [pytest.param(c, marks=ZERO_DOF) if c.endswith("one_element") else c for c in cases]


@pytest.mark.parametrize("case", marked(CASES))
def test_op_matches_torch(case, close):
    out, grads = run_case(case)
    check_outputs(case, out, close)
    for name, g in grads.items():
        want = DATA[f"{case}/grad/{name}"]
        assert g is not None, f"{case}: no gradient reached input {name}"
        assert g.dtype == want.dtype, f"{case}: gradient of {name} has dtype {g.dtype}"
        close(g, want, f"{case} d/d{name}")


def test_F3_log_softmax_matches_torch(close):
    out, grads = run_case("log_softmax")
    close(out.data, DATA["log_softmax/out"], "log_softmax forward")
    close(grads["input"], DATA["log_softmax/grad/input"], "log_softmax d/dinput")


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("cross_entropy")])
def test_F8_cross_entropy_matches_torch(case, close):
    out, grads = run_case(case)
    close(out.data, DATA[f"{case}/out"], f"{case} forward")
    close(grads["input"], DATA[f"{case}/grad/input"], f"{case} d/dinput")


def test_F9_perplexity_is_exp_of_mean_nll(close):
    """perplexity = exp((1/N) sum_n -log p(y_n | x_n)), from log_softmax and a gather (F9)"""
    z = Tensor(DATA["perplexity/in/input"].copy())
    y = DATA["perplexity/in/target"]
    nll = -F.log_softmax(z)[np.arange(len(y)), y]  # (N,)
    ppl = F.cross_entropy(z, y).exp()
    close(ppl.data, nll.mean().exp().data, "perplexity vs exp(mean nll)")
    close(ppl.data, DATA["perplexity/out"], "perplexity vs torch")


def test_F5_attention_matches_torch(close):
    for case in [c for c in CASES if c.startswith("attention")]:
        out, grads = run_case(case)
        close(out.data, DATA[f"{case}/out"], f"{case} forward")
        for name in ("query", "key", "value"):
            close(grads[name], DATA[f"{case}/grad/{name}"], f"{case} d/d{name}")


@pytest.mark.parametrize("case", ["layer_norm_affine", "nn_layer_norm", "nn_layer_norm_no_bias"])
def test_C14_layer_norm_matches_torch(case, close):
    out, grads = run_case(case)
    close(out.data, DATA[f"{case}/out"], f"{case} forward")
    for name, g in grads.items():
        close(g, DATA[f"{case}/grad/{name}"], f"{case} d/d{name}")


@pytest.mark.parametrize("case", ["gelu_erf", "gelu_tanh"])
def test_C14_gelu_matches_torch(case, close):
    out, grads = run_case(case)
    close(out.data, DATA[f"{case}/out"], f"{case} forward")
    close(grads["input"], DATA[f"{case}/grad/input"], f"{case} d/dinput")


@pytest.mark.parametrize("case", ["embedding", "nn_embedding"])
def test_C15_embedding_matches_torch(case, close):
    out, grads = run_case(case)
    close(out.data, DATA[f"{case}/out"], f"{case} forward")
    name = "weight" if case == "embedding" else "W"
    close(grads[name], DATA[f"{case}/grad/{name}"], f"{case} d/d{name}")


@pytest.mark.parametrize("case", ["nn_linear", "nn_linear_no_bias"])
def test_C15_linear_matches_torch_with_weight_transposed(case, close):
    out, grads = run_case(case)
    close(out.data, DATA[f"{case}/out"], f"{case} forward")
    for name, g in grads.items():
        close(g, DATA[f"{case}/grad/{name}"], f"{case} d/d{name}")


@pytest.mark.parametrize(
    "case", ["method_max_dim_ties", "method_max_dim_keepdim", "method_min_dim_ties"]
)
def test_max_and_min_with_dim_give_torchs_indices_and_send_ties_gradient_to_one(case, close):
    """torch.max(dim) returns (values, indices), the first extreme, and only that index gets dy"""
    out, grads = run_case(case)
    assert isinstance(out, ValuesIndices), f"{case}: {type(out).__name__}"
    np.testing.assert_array_equal(out.indices.data, DATA[f"{case}/out/1"], err_msg=case)
    close(grads["a"], DATA[f"{case}/grad/a"], f"{case} d/da")


VAR_CASES = [c for c in CASES if c.startswith(("method_var", "method_std"))]


@pytest.mark.parametrize("case", marked(VAR_CASES))
def test_var_and_std_match_torch_unbiased_by_default(case, close):
    out, grads = run_case(case)
    close(out.data, DATA[f"{case}/out"], f"{case} forward")
    close(grads["a"], DATA[f"{case}/grad/a"], f"{case} d/da")


@pytest.mark.parametrize("case", ["method_abs_kinks", "method_clamp_kinks", "method_clamp_min"])
def test_abs_and_clamp_gradients_at_kinks_match_torch(case, close):
    """abs'(0) = 0; clamp passes dy where min <= x <= max, its bounds included"""
    _, grads = run_case(case)
    close(grads["a"], DATA[f"{case}/grad/a"], f"{case} d/da")
