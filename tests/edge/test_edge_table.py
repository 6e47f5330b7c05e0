"""The edge-case table (OpInfo's idea): every op of the op table and every public function of
minillm.functional on edge inputs, values and gradients against PyTorch 2.13.

tests/fixtures/make_edge_fixtures.py wrote tests/fixtures/edge.npz: empty axes, size-1 axes, +-inf,
nan, +-1e30 and +-1e-30 in float32, all-masked attention rows, all-ignored targets, integer and
boolean inputs. Each row is run here with minillm only, L = sum(out * dout) for the stored dout,
and compared with assert_edge_close: nan and infinity positions exactly, finite entries within the
float32 tolerance. Where torch raised, minillm must raise a clear error that names the op (and
the shape, for a reduction) instead of a NumPy message. The ops that have a CPU kernel
(kernels/cpu) run each row twice: on the fast path chosen by default, and on the readable code
(`use_cpu("reference")`). A row marked as a deviation holds minillm to its documented value (torch's
answer to the equivalent call); the deviation is stated in the op's docstring and in
docs/errors.md. A meta-test fails when an op has no row.
"""

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from edge_compare import assert_edge_close

import minillm.functional as F
from minillm.ops import OP_TABLE, dispatch
from minillm.ops.attention import causal_mask
from minillm.tensor import PRIMITIVES, Tensor, concatenate, stack, where

ROOT = Path(__file__).resolve().parents[2]
with np.load(ROOT / "tests" / "fixtures" / "edge.npz", allow_pickle=False) as _npz:
    DATA = {k: _npz[k] for k in _npz.files}
CONFIG = {k[: -len("/config")]: json.loads(str(DATA[k])) for k in DATA if k.endswith("/config")}
# the op rows; the clip_grad_norm_ rows are test_optim_edges.py's
ROWS = sorted(row for row, config in CONFIG.items() if config["op"] != "clip_grad_norm_")
NO_GRAD = {"attn_mask", "mask", "cond", "target", "ids", "index"}  # passed on as plain arrays


def decode_index(spec, inputs):
    """The index a getitem spec names (the fixture script has the same decoder)."""
    parts = []
    for kind, *args in spec:
        if kind == "slice":
            parts.append(slice(*args))
        elif kind == "int":
            parts.append(args[0])
        elif kind == "array":
            parts.append(inputs[args[0]])
        else:
            parts.append(None)
    return tuple(parts)


# our function name -> minillm call of (*inputs in order, **torch's keyword arguments)
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
    "astype": lambda a, dtype: a.astype(dtype),
    "matmul": lambda a, b: a @ b,
    "sum": lambda a, dim=None, keepdim=False: a.sum(dim, keepdim),
    "max": lambda a, dim=None, keepdim=False: a.amax(dim, keepdim),  # the max primitive
    "reshape": lambda a, shape: a.reshape(shape),
    "expand": lambda a, sizes: a.expand(*sizes),
    "transpose": lambda a, dims: a.permute(dims),
    "getitem": None,  # decode_index
    "where": lambda cond, a, b: where(cond, a, b),
    "concatenate": lambda *ts, dim: concatenate(ts, dim=dim),
    "stack": lambda *ts, dim: stack(ts, dim=dim),
    "F.cat": lambda *ts, dim=0: F.cat(ts, dim=dim),
    "F.concatenate": lambda *ts, dim=0: F.concatenate(ts, dim=dim),
    "F.stack": lambda *ts, dim=0: F.stack(ts, dim=dim),
    "F.layer_norm": lambda x, weight=None, bias=None, normalized_shape=None: F.layer_norm(
        x, normalized_shape, weight, bias
    ),
    "F.split": lambda a, split_size_or_sections, dim=0: F.split(a, split_size_or_sections, dim),
}
for _name in F.__all__:
    OURS.setdefault(f"F.{_name}", getattr(F, _name))

# the F functions that run an entry of the composite op table
VIA_F = {
    "F.relu": "relu",
    "F.sigmoid": "sigmoid",
    "F.gelu": "gelu",
    "F.softmax": "softmax",
    "F.log_softmax": "log_softmax",
    "F.logsumexp": "logsumexp",
    "F.layer_norm": "layer_norm",
    "F.cross_entropy": "cross_entropy",
    "F.embedding": "embedding",
    "F.dropout": "dropout",
    "F.scaled_dot_product_attention": "attention",
}
# the F functions with a kernels/cpu version, chosen by default on float32 NumPy arrays
FAST = {
    "F.softmax",
    "F.layer_norm",
    "F.scaled_dot_product_attention",
    "F.cross_entropy",
    "F.gelu",
}
# the name minillm's error must give when torch raised (the short name, as in the message)
ERROR_NAMES = {"max": "amax", "F.scaled_dot_product_attention": "attention"}

# NumPy warns on inf - inf, 0 * inf and the like, which are what these rows are made of: the
# values and gradients are the test, not the warnings
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def params():
    for row in ROWS:
        paths = ("fast", "reference") if CONFIG[row]["op"] in FAST else ("-",)
        for path in paths:
            yield pytest.param(row, path, id=f"{row}[{path}]")


def make_inputs(row):
    config = CONFIG[row]
    inputs = {}
    for name in config["inputs"]:
        array = DATA[f"{row}/in/{name}"].copy()
        if name in NO_GRAD:
            inputs[name] = array
        else:
            inputs[name] = Tensor(array, requires_grad=name in config["grads"])
    return inputs


def call(row, inputs):
    config = CONFIG[row]
    op, kwargs = config["op"], config["kwargs"]
    if op == "getitem":
        return inputs["a"][decode_index(kwargs["index"], inputs)]
    return OURS[op](*inputs.values(), **kwargs)


def path_context(path):
    return dispatch.use_cpu("reference") if path == "reference" else contextlib.nullcontext()


def run(row, path):
    """minillm's outputs (a tuple) and {input name: gradient} for a row."""
    inputs = make_inputs(row)
    with path_context(path):
        out = call(row, inputs)
        outs = out if isinstance(out, tuple) else (out,)
        douts = [DATA.get(f"{row}/dout/{k}") for k in range(len(outs))]
        if not isinstance(out, tuple):
            douts = [DATA.get(f"{row}/dout")]
        parts = [(o * d).sum() for o, d in zip(outs, douts) if d is not None and o.requires_grad]
        if parts:
            sum(parts[1:], parts[0]).backward()
    grads = {}
    for name in CONFIG[row]["grads"]:
        g = inputs[name].grad
        grads[name] = np.zeros_like(inputs[name].data) if g is None else g  # None: no path
    return outs, grads


def expected_outputs(row):
    if f"{row}/out" in DATA:
        return [DATA[f"{row}/out"]]
    return [DATA[f"{row}/out/{k}"] for k in range(CONFIG[row]["n_out"])]


@pytest.mark.parametrize("row,path", list(params()))
def test_edge_row_matches_torch(row, path):
    config = CONFIG[row]
    if "raises" in config:
        check_raises(row, path)
        return
    outs, grads = run(row, path)
    want = expected_outputs(row)
    assert len(outs) == len(want), f"{row}: {len(outs)} outputs, torch gave {len(want)}"
    for k, (o, w) in enumerate(zip(outs, want)):
        assert_edge_close(o.data, w, f"{row} [{path}] output {k}")
    for name, g in grads.items():
        assert_edge_close(g, DATA[f"{row}/grad/{name}"], f"{row} [{path}] d/d{name}")


SOFTMAX_FAMILY = [
    r for r in ROWS if CONFIG[r]["op"] in ("F.softmax", "F.log_softmax", "F.logsumexp")
]


@pytest.mark.parametrize("row", SOFTMAX_FAMILY)
def test_edge_row_of_the_tensor_method_matches_torch(row):
    """x.softmax / x.log_softmax / x.logsumexp are built from primitives (the tensor layer sits
    below minillm.ops): the same rows, the same torch values and gradients as F's pairs.

    Stated deviation (Tensor.logsumexp's docstring): its gradient is the exact softmax, held to
    float64 here. torch (and F.logsumexp) compute exp(x - lse) in float32, where lse = 1e30 +
    log 2 rounds to 1e30, so two maxima of 1e30 get gradient 1 each instead of 1/2."""
    config = CONFIG[row]
    a = DATA[f"{row}/in/a"]
    x = Tensor(a.copy(), requires_grad=True)
    out = getattr(x, config["op"][len("F.") :])(**config["kwargs"])
    dout = DATA[f"{row}/dout"]
    out.backward(dout)
    assert_edge_close(out.data, DATA[f"{row}/out"], f"{row} (method) output")
    want = DATA[f"{row}/grad/a"]
    if config["op"] == "F.logsumexp":  # the exact softmax, times dout
        dim, keep = config["kwargs"]["dim"], config["kwargs"].get("keepdim", False)
        d = dout if keep else np.expand_dims(dout, dim)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = a.astype(np.float64).max(axis=dim, keepdims=True, initial=-np.inf)
            z = a - np.where(np.isinf(m), 0, m)  # shifted first: 1e30 - 1e30 = 0 exactly
            want = d * np.exp(z - np.log(np.exp(z).sum(axis=dim, keepdims=True)))
            want = want.astype(np.float32)
    assert_edge_close(x.grad, want, f"{row} (method) d/da")


def check_raises(row, path):
    """Torch raised: so must minillm, with one clear error naming its op and what was wrong."""
    config = CONFIG[row]
    inputs = make_inputs(row)
    with path_context(path), pytest.raises((ValueError, IndexError, RuntimeError)) as info:
        call(row, inputs)
    message = str(info.value)
    name = ERROR_NAMES.get(config["op"], config["op"].split(".")[-1])
    assert name in message, f"{row}: the error {message!r} does not name {name!r}"
    assert "zero-size array" not in message, f"{row}: NumPy's message {message!r}"
    first = next(iter(inputs.values()))
    shape = str(tuple(first.shape))
    assert shape in message or "out of range" in message, (
        f"{row}: the error {message!r} names neither the shape {shape} nor the bad value"
    )


# ---- the meta-tests ---------------------------------------------------------------------------
def covered():
    ops = {CONFIG[row]["op"] for row in ROWS}
    return ops | {VIA_F[op] for op in ops if op in VIA_F}


def test_every_op_and_functional_function_has_an_edge_row():
    wanted = set(PRIMITIVES) | set(OP_TABLE) | {f"F.{name}" for name in F.__all__}
    missing = wanted - covered()
    assert not missing, f"ops without an edge-case row: {sorted(missing)}"


def test_every_row_names_a_known_function():
    unknown = {CONFIG[row]["op"] for row in ROWS} - set(OURS)
    assert not unknown, f"edge rows for functions the test cannot call: {sorted(unknown)}"


def test_every_op_sees_an_empty_or_special_input():
    """Each function gets at least one row with an empty axis, an infinity or a nan."""
    dull = set()
    for op in {CONFIG[row]["op"] for row in ROWS}:
        rows = [row for row in ROWS if CONFIG[row]["op"] == op]
        arrays = [DATA[f"{row}/in/{n}"] for row in rows for n in CONFIG[row]["inputs"]]
        if not any(
            a.size == 0 or (a.dtype.kind == "f" and not np.isfinite(a).all()) for a in arrays
        ):
            dull.add(op)
    assert not dull, f"functions whose rows have no empty or non-finite input: {sorted(dull)}"


# where minillm deliberately differs from torch: the row, and the words its docstring and
# docs/errors.md must contain
DEVIATIONS = {
    "F.scaled_dot_product_attention/causal_more_queries_than_keys": (causal_mask, "bottom-right"),
}


def test_deviation_rows_are_stated_in_the_docstring_and_the_docs():
    rows = {row for row in ROWS if "deviation" in CONFIG[row]}
    assert rows == set(DEVIATIONS), f"deviation rows {sorted(rows)} != {sorted(DEVIATIONS)}"
    errors_md = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for row, (obj, words) in DEVIATIONS.items():
        assert "Deviation" in obj.__doc__ and words in obj.__doc__, f"{row}: not in the docstring"
        assert row in errors_md and words in errors_md, f"{row}: not in docs/errors.md"
