"""RNN / LSTM / GRU outputs and gradients against PyTorch 2.13 (tests/fixtures/rnn.npz, written
by tests/fixtures/make_rnn_fixtures.py; torch is not needed here). The weight mapping is
conftest.TORCH_MAP."""

import json
from pathlib import Path

import numpy as np
import pytest

from minillm import nn
from minillm.tensor import Tensor

FIXTURES = np.load(Path(__file__).parents[1] / "fixtures" / "rnn.npz")
CASES = sorted({k.split("/")[0] for k in FIXTURES.files})


def build(case, state_from_torch):
    """Our layer, in float64, holding the fixture's weights."""
    cfg = json.loads(str(FIXTURES[f"{case}/config"]))
    kind, L, bias = cfg["kind"], cfg["num_layers"], cfg["bias"]
    kw = dict(num_layers=L, bias=bias, batch_first=cfg["batch_first"], dtype=np.float64)
    if kind.startswith("RNN"):
        nl = "tanh" if kind == "RNN_TANH" else "relu"
        layer, family = nn.RNN(cfg["input_size"], cfg["hidden_size"], nonlinearity=nl, **kw), "RNN"
    else:
        layer, family = getattr(nn, kind)(cfg["input_size"], cfg["hidden_size"], **kw), kind
    torch_state = {
        k.split("/param/")[1]: FIXTURES[k] for k in FIXTURES.files if k.startswith(f"{case}/param/")
    }
    layer.load_state_dict(state_from_torch(torch_state, family, L, bias))
    return cfg, layer, family


@pytest.mark.parametrize("case", CASES)
def test_C11_rnn_layers_match_pytorch(case, assert_close, state_from_torch, torch_rows):
    """F2 (RNN tanh/relu), C11 (LSTM, GRU): outputs, final states and the gradients of the input,
    the initial state and every weight equal torch.nn.RNN/LSTM/GRU's."""
    cfg, layer, family = build(case, state_from_torch)
    x = Tensor(FIXTURES[f"{case}/x"].copy(), requires_grad=True)
    state0, inputs = None, {"x": x}
    if cfg["has_h0"]:
        inputs["h0"] = Tensor(FIXTURES[f"{case}/h0"].copy(), requires_grad=True)
        state0 = inputs["h0"]
        if family == "LSTM":
            inputs["c0"] = Tensor(FIXTURES[f"{case}/c0"].copy(), requires_grad=True)
            state0 = (inputs["h0"], inputs["c0"])
    y, state = layer(x, state0)
    results = {"out": y}
    results["h_n"], results["c_n"] = state if family == "LSTM" else (state, None)
    loss = None
    for key, t in results.items():
        if t is None:
            continue
        assert_close(t.data, FIXTURES[f"{case}/{key}"], f"{case} {key}")
        term = (t * FIXTURES[f"{case}/g_{key}"]).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    for key, t in inputs.items():
        assert_close(t.grad, FIXTURES[f"{case}/grad/{key}"], f"{case} d{key}")
    params = dict(layer.named_parameters())
    for ours, theirs, how in torch_rows(family, cfg["num_layers"], cfg["bias"]):
        for name in theirs:
            expected = FIXTURES[f"{case}/grad/param/{name}"]
            expected = expected.T if how == "T" else expected
            assert_close(params[ours].grad, expected, f"{case} d{ours} (torch {name})")
    assert len(params) == len(torch_rows(family, cfg["num_layers"], cfg["bias"]))
