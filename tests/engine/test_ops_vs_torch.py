"""Every op and basic layer against PyTorch 2.13 (tests/fixtures/ops.npz), forward and gradients.

The fixtures come from tests/fixtures/make_ops_fixtures.py (float32 inputs, L = sum(out * dout)
for a stored dout). Here each case is rebuilt with minillm only, in float32, and compared with
the float32 tolerance of conftest.TOLERANCES.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import minillm.functional as F
from minillm.nn import Embedding, LayerNorm, Linear
from minillm.ops import OP_TABLE
from minillm.tensor import PRIMITIVES, Tensor, concatenate, stack, where

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
    "max": lambda a, dim=None, keepdim=False: a.max(dim, keepdim),
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
}


def run_case(case):
    """minillm's output and {input name: gradient} for a fixture case, in float32."""
    config = json.loads(str(DATA[f"{case}/config"]))
    op, kwargs = config["op"], config["kwargs"]
    inputs = {
        k: Tensor(DATA[f"{case}/in/{k}"].copy(), requires_grad=k in config["grads"])
        for k in config["inputs"]
    }
    params = inputs
    if op in LAYERS:
        out, layer_params = LAYERS[op](*inputs.values())
        params = {**inputs, **layer_params}  # gradients of the layer's own Parameters
    elif op == "getitem":
        out = inputs["a"][decode_index(kwargs["index"], inputs)]
    elif op in PRIMITIVES:
        out = OURS[op](*inputs.values(), **kwargs)
    else:
        out = OURS[op](**inputs, **kwargs)
    out.backward(DATA[f"{case}/dout"])
    return out, {k: params[k].grad for k in config["grads"]}


def test_fixture_file_covers_every_op_and_layer():
    ops = {json.loads(str(DATA[f"{c}/config"]))["op"] for c in CASES}
    missing = (set(PRIMITIVES) | set(OP_TABLE) | set(LAYERS)) - ops - {"dropout"}
    # dropout's mask comes from each library's own generator; gradcheck and the statistical
    # tests in test_nn_basics.py cover it
    assert not missing, f"ops without a PyTorch fixture: {sorted(missing)}"


@pytest.mark.parametrize("case", CASES)
def test_op_matches_torch(case, close):
    out, grads = run_case(case)
    assert out.dtype == np.float32, f"{case}: output dtype {out.dtype}"
    close(out.data, DATA[f"{case}/out"], f"{case} forward")
    for name, g in grads.items():
        assert g is not None, f"{case}: no gradient reached input {name}"
        assert g.dtype == np.float32, f"{case}: gradient of {name} has dtype {g.dtype}"
        close(g, DATA[f"{case}/grad/{name}"], f"{case} d/d{name}")


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
