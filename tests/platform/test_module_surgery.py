"""nn.Module as the next wave needs it: replacing a child keeps its slot, buffers, freezing,
surgery by path, hooks, non-strict loading, random-generator state, dtype casts (PyTorch's names
and semantics)."""

import copy

import numpy as np
import pytest

from minillm import nn
from minillm.models import GPT, GPTConfig
from minillm.tensor import Tensor, gradcheck
from minillm.train import configure_optimizer

TINY = GPTConfig(vocab_size=11, block_size=8, n_layers=3, n_heads=2, d_model=16, bias=True)


def test_replacing_a_submodule_keeps_its_position():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3), nn.Linear(2, 4)])
    setattr(ml, "0", nn.Linear(2, 9))
    assert [m.W.shape[1] for m in ml] == [9, 3, 4], "setattr moved the replaced child"
    ml[1] = nn.Linear(2, 7)
    assert [m.out_features for m in ml] == [9, 7, 4] and ml[-1].out_features == 4
    lin = nn.Linear(3, 2)
    lin.W = lin.W
    assert [n for n, _ in lin.named_parameters()] == ["W", "b"], "re-assigning reordered"
    with pytest.raises(IndexError, match="index 3 out of range for length 3"):
        ml[3] = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="holds Modules"):
        ml[0] = "not a module"


def test_swapping_a_gpt_block_keeps_the_block_order_and_the_optimizer_indices():
    model = GPT(TINY, seed=0)
    names = [n for n, _ in model.named_parameters()]
    ids = [id(p) for p in model.parameters()]
    x = np.arange(6)[None] % 11  # (1, 6)
    before = model(x)[0].data
    model.set_submodule("blocks.0", copy.deepcopy(model.blocks[0]))
    assert [n for n, _ in model.named_parameters()] == names, "parameter order changed"
    np.testing.assert_allclose(model(x)[0].data, before, rtol=0, atol=0)
    assert [id(p) for p in model.parameters()][len(names) // 2 :] == ids[len(names) // 2 :]


def test_get_and_set_submodule_by_path_name_what_is_missing():
    model = GPT(TINY)
    q = model.get_submodule("blocks.1.self_attn.W_q")
    assert q is model.blocks[1].self_attn.W_q and model.get_submodule("") is model
    assert model.get_parameter("blocks.1.self_attn.W_q.W") is q.W
    with pytest.raises(AttributeError, match=r"'blocks.1' has no sub-module 'attn'"):
        model.get_submodule("blocks.1.attn.W_q")
    with pytest.raises(AttributeError, match="no sub-module 'W_z' to replace"):
        model.set_submodule("blocks.1.self_attn.W_z", nn.Linear(16, 16))
    new = nn.Linear(16, 16)
    model.set_submodule("blocks.1.self_attn.W_q", new)
    assert model.blocks[1].self_attn.W_q is new


def test_named_modules_and_parameters_take_prefix_and_recurse():
    block = nn.TransformerEncoderLayer(8, 2, 12)
    names = [n for n, _ in block.named_parameters(prefix="blocks.0")]
    assert names[0] == "blocks.0.self_attn.W_q.W"
    assert [n for n, _ in block.self_attn.W_q.named_parameters(recurse=False)] == ["W", "b"]
    assert list(block.named_parameters(recurse=False)) == [], "the layer owns no parameter itself"
    assert list(block.named_modules(prefix="x"))[1][0] == "x.self_attn"
    order = []
    block.apply(lambda m: order.append(type(m).__name__))
    assert order[-1] == "TransformerEncoderLayer" and order[0] == "Linear", "children first"


def test_buffer_round_trips_through_state_dict_and_to():
    class Quantized(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("q", np.arange(6, dtype=np.int8).reshape(2, 3))
            self.register_buffer("scale", np.full(3, 0.5, dtype=np.float32))
            self.register_buffer("table", np.ones(4, dtype=np.float32), persistent=False)
            self.b = nn.Parameter(np.zeros(3, dtype=np.float32))

    m = Quantized()
    sd = m.state_dict()
    assert list(sd) == ["b", "q", "scale"], "parameters, then persistent buffers"
    assert [n for n, _ in m.named_buffers()] == ["q", "scale", "table"]
    assert [n for n, _ in m.named_parameters()] == ["b"], "a buffer is not a parameter"
    m.double()
    assert m.q.dtype == np.int8 and m.scale.dtype == np.float64 and m.table.dtype == np.float64
    assert m._buffers["scale"] is m.scale, "the attribute and the table stay the same array"
    other = Quantized()
    other.load_state_dict(
        {"b": np.ones(3), "q": np.full((2, 3), -7, np.int8), "scale": sd["scale"]}
    )
    assert other.q.dtype == np.int8 and int(other.q[0, 0]) == -7
    with pytest.raises(ValueError, match=r"q: checkpoint \(3, 2\) vs model \(2, 3\)"):
        other.load_state_dict({**other.state_dict(), "q": np.zeros((3, 2), np.int8)})
    m.to("cpu")  # a no-op move keeps everything
    assert m.q.dtype == np.int8


def test_sinusoidal_table_is_a_non_persistent_buffer():
    pe = nn.SinusoidalPositionalEncoding(8, max_len=16)
    assert "pe" in dict(pe.named_buffers()) and pe.state_dict() == {}
    pe.double()
    out = pe(Tensor(np.zeros((1, 3, 8))))
    assert out.dtype == np.float64 and np.allclose(out.data[0], pe.pe[:3])


def test_frozen_module_gets_no_grad_and_no_optimizer_state():
    model = GPT(TINY, seed=0)
    model.requires_grad_(False)
    model.blocks[2].requires_grad_(True)
    counts = model.parameter_counts()
    trainable = sum(p.size for p in model.blocks[2].parameters())
    assert counts["trainable"] == trainable and counts["total"] == model.num_params(False)
    opt = configure_optimizer(model, 1e-2, 0.1, (0.9, 0.99))
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert in_opt == {id(p) for p in model.blocks[2].parameters()}
    x = np.arange(12).reshape(2, 6) % 11
    frozen_before = model.wte.W.data.copy()
    _, loss = model(x, x)
    loss.backward()
    assert model.wte.W.grad is None and model.blocks[0].ff.W_1.W.grad is None, "frozen got grads"
    assert model.blocks[2].ff.W_1.W.grad is not None
    opt.step()
    assert np.array_equal(model.wte.W.data, frozen_before)
    assert all(id(p) in in_opt for p in opt.state), "optimizer state for a frozen parameter"


def test_weight_decay_groups_come_from_parameter_roles_not_shapes():
    model = GPT(
        GPTConfig(vocab_size=11, block_size=8, n_layers=1, n_heads=2, d_model=16, bias=True)
    )
    opt = configure_optimizer(model, 1e-3, 0.1, (0.9, 0.99))
    decayed, plain = opt.param_groups
    roles = {id(p): role for _, p, role in model.named_parameter_roles()}
    assert {roles[id(p)] for p in decayed["params"]} == {"weight", "embedding"}
    assert {roles[id(p)] for p in plain["params"]} == {"bias", "norm"}
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0

    class Scale(nn.Module):  # a 1-D parameter that is a weight: decayed by role, not by ndim
        PARAM_ROLES = {"s": "weight"}

        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(np.ones(4, dtype=np.float32))

    opt = configure_optimizer(Scale(), 1e-3, 0.1, (0.9, 0.99))
    assert opt.param_groups[0]["weight_decay"] == 0.1 and len(opt.param_groups) == 1


def test_forward_hooks_read_replace_and_are_removable():
    lin = nn.Linear(3, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    lin(Tensor(np.ones((4, 3))))
    handle.remove()
    handle.remove()  # twice is harmless
    lin(Tensor(np.ones((4, 3))))
    assert seen == [(4, 2)]
    with lin.register_forward_pre_hook(lambda m, args: (args[0] * 0.0,)):
        with lin.register_forward_hook(lambda m, args, out: out + 1.0):
            y = lin(Tensor(np.ones((1, 3))))
    np.testing.assert_allclose(y.data, lin.b.data[None] + 1.0, rtol=1e-6)
    assert not lin._forward_hooks and not lin._forward_pre_hooks, "context manager removed them"
    with pytest.raises(TypeError, match="hook must be callable"):
        lin.register_forward_hook(3)


def test_load_state_dict_non_strict_returns_missing_and_unexpected_keys():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2, bias=False)
    result = b.load_state_dict(a.state_dict(), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == ["b"]
    assert np.array_equal(b.W.data, a.W.data)
    result = a.load_state_dict({"W": np.zeros((3, 2))}, strict=False)
    assert result == (["b"], []) and np.all(a.W.data == 0)
    with pytest.raises(KeyError, match=r"missing keys \['b'\], unexpected keys \[\]"):
        a.load_state_dict({"W": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"W: checkpoint \(2, 3\) vs model \(3, 2\)"):
        a.load_state_dict({"W": np.zeros((2, 3))}, strict=False)


def test_rng_states_round_trip_for_every_dropout_module():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layers=2, n_heads=2, d_model=16,
                          dropout=0.5), seed=3)  # fmt: skip
    states = model.rng_states()
    assert "drop" in states and "blocks.1.self_attn.attn_drop" in states
    x = np.arange(12).reshape(2, 6) % 11
    first = model(x)[0].data
    model.set_rng_states(states)
    assert np.array_equal(model(x)[0].data, first), "restored generators drop the same units"
    with pytest.raises(KeyError, match="missing generators"):
        model.set_rng_states({})


def test_tied_head_is_a_module_that_reads_the_embedding():
    model = GPT(TINY, seed=0)
    assert isinstance(model.lm_head, nn.TiedLinear) and not list(model.lm_head.parameters())
    assert "lm_head" not in " ".join(model.state_dict()), "the tied weight is stored once"
    x = np.arange(6)[None] % 11
    _, loss = model(x, x)
    loss.backward()
    assert model.wte.W.grad is not None
    untied = nn.Linear(16, 11, bias=False)
    untied.W.data[...] = model.wte.W.data.T
    logits = model(x)[0].data
    model.lm_head = untied  # a head swapped for another module (a quantized or LoRA head)
    np.testing.assert_allclose(model(x)[0].data, logits, rtol=1e-6, atol=1e-6)


def test_init_by_module_type_leaves_a_new_layer_type_alone():
    class LowRank(nn.Module):
        def __init__(self):
            super().__init__()
            self.A = nn.Parameter(np.full((16, 2), 0.3, dtype=np.float32))

        def forward(self, x):
            return x

    model = GPT(TINY, seed=0)
    model.blocks[0].extra = LowRank()
    model.init_weights(seed=1)
    assert np.all(model.blocks[0].extra.A.data == np.float32(0.3)), "an unknown layer was reset"
    assert np.all(model.blocks[0].norm1.gamma.data == 1) and np.all(
        model.blocks[0].ff.W_1.b.data == 0
    )
    std = 0.02 / np.sqrt(2 * TINY.n_layers)
    w_o = np.concatenate([b.self_attn.W_o.W.data.ravel() for b in model.blocks])
    assert abs(w_o.std() / std - 1) < 0.1, "C1: residual projections scaled by 1/sqrt(2L)"


def test_module_double_gives_a_float64_layer_for_a_whole_layer_gradcheck():
    layer = nn.TransformerEncoderLayer(8, 2, 12, activation="gelu", norm_first=True).double()
    assert all(p.dtype == np.float64 for p in layer.parameters())
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 8)), requires_grad=True)
    assert gradcheck(lambda a, w: layer(a, is_causal=True), x, layer.ff.W_1.W)
    with pytest.raises(ValueError, match="floating dtype"):
        layer.to(np.int32)
