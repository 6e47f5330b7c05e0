"""Module, Parameter and the basic layers: registration, names, tying, state dicts, modes (C2, C14,
C15, C22)."""

import numpy as np
import pytest

from minillm.nn import (
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    Module,
    ModuleList,
    Parameter,
    Sequential,
)
from minillm.tensor import Tensor


class Block(Module):
    def __init__(self, rng):
        super().__init__()
        self.ln = LayerNorm(6)
        self.fc = Linear(6, 4, rng=rng)


class Net(Module):
    """embedding -> blocks -> head, with the head's weight tied to the embedding (C2)"""

    def __init__(self, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.emb = Embedding(5, 6, rng=rng)
        self.blocks = ModuleList([Block(rng), Block(rng)])
        self.head = Sequential(Linear(4, 6, rng=rng), Dropout(0.5, seed=1))
        self.scale = Parameter(np.ones(1, dtype=np.float32))
        self.not_a_param = Tensor(np.zeros(3))  # a plain Tensor attribute is not registered


def test_named_parameters_walk_the_tree_with_dotted_names():
    names = [n for n, _ in Net().named_parameters()]
    assert names == [
        "scale",
        "emb.W",
        "blocks.0.ln.gamma",
        "blocks.0.ln.beta",
        "blocks.0.fc.W",
        "blocks.0.fc.b",
        "blocks.1.ln.gamma",
        "blocks.1.ln.beta",
        "blocks.1.fc.W",
        "blocks.1.fc.b",
        "head.0.W",
        "head.0.b",
    ], names


def test_modules_and_children():
    net = Net()
    assert [n for n, _ in net.named_modules()][:4] == ["", "emb", "blocks", "blocks.0"]
    assert len(list(net.children())) == 3
    assert isinstance(net.head[1], Dropout) and len(net.head) == 2 and len(net.blocks) == 2


def test_tied_parameter_is_listed_once_by_parameters_and_under_both_names_in_state_dict():
    class Tied(Module):
        def __init__(self):
            super().__init__()
            self.wte = Embedding(7, 3)
            self.lm_head = Linear(3, 7, bias=False)
            self.lm_head.W = self.wte.W  # same Parameter object (the head uses it as x @ W)

    m = Tied()
    assert len(m.parameters()) == 1
    assert m.num_params() == 21
    state = m.state_dict()
    assert set(state) == {"wte.W", "lm_head.W"}
    assert state["wte.W"] is state["lm_head.W"]


def test_reassigning_an_attribute_unregisters_the_old_value():
    net = Net()
    net.scale = None
    net.blocks = Linear(2, 2)
    names = {n for n, _ in net.named_parameters()}
    assert "scale" not in names and "blocks.W" in names and "blocks.0.ln.gamma" not in names


def test_module_without_super_init_is_refused():
    class Bad(Module):
        def __init__(self):
            self.W = Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_state_dict_round_trip_restores_every_value():
    a, b = Net(seed=0), Net(seed=1)
    assert not np.allclose(a.emb.W.data, b.emb.W.data)
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items()})
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    ids = np.array([[0, 4, 2]])
    xa = a.blocks[0].fc(a.blocks[0].ln(a.emb(ids)))
    xb = b.blocks[0].fc(b.blocks[0].ln(b.emb(ids)))
    np.testing.assert_array_equal(xa.data, xb.data)


def test_load_state_dict_copies_in_place_keeping_the_parameter_objects():
    net = Net()
    before = net.emb.W
    net.load_state_dict({k: np.zeros_like(v) for k, v in net.state_dict().items()})
    assert net.emb.W is before and not net.emb.W.data.any()


def test_train_and_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_sets_every_grad_to_none():
    net = Net()
    y = net.blocks[1].fc(net.blocks[0].ln(net.emb(np.array([1, 2]))))
    y.sum().backward()
    assert net.emb.W.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_dropout_is_the_identity_in_eval_mode():
    d = Dropout(0.4, seed=0).eval()
    x = Tensor(np.random.default_rng(0).standard_normal((3, 5)))
    assert d(x) is x


def test_C22_dropout_in_training_preserves_the_mean_statistically():
    d = Dropout(0.25, seed=123)
    x = Tensor(np.full((400, 250), 2.0, dtype=np.float32), requires_grad=True)
    y = d(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 2.0 / 0.75, rtol=1e-6)
    # mean of 100,000 scaled Bernoulli draws: std 2 * sqrt(p / (1 - p)) / sqrt(n) = 0.0037
    assert abs(y.data.mean() - 2.0) < 0.02, y.data.mean()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, kept / np.float32(0.75))  # the same mask backwards


def test_dropout_with_p_zero_is_the_identity_and_bad_p_is_refused():
    x = Tensor(np.ones(3))
    assert Dropout(0.0)(x) is x
    with pytest.raises(ValueError, match="Dropout"):
        Dropout(1.0)


def test_C15_linear_computes_x_W_plus_b_with_W_of_shape_in_out():
    rng = np.random.default_rng(2)
    layer = Linear(5, 3, rng=rng)
    assert layer.W.shape == (5, 3) and layer.b.shape == (3,)
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    y = layer(Tensor(x))
    assert y.shape == (2, 4, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.data, x @ layer.W.data + layer.b.data, rtol=1e-6)
    bound = 1 / np.sqrt(5)  # C1: PyTorch's default U(-1/sqrt(in), 1/sqrt(in))
    assert np.abs(layer.W.data).max() <= bound and np.abs(layer.b.data).max() <= bound
    assert Linear(5, 3, bias=False).b is None


def test_C15_embedding_looks_up_rows_and_layer_norm_starts_at_identity_affine():
    emb = Embedding(6, 4, rng=np.random.default_rng(0))
    ids = np.array([[5, 0, 5]])
    np.testing.assert_array_equal(emb(ids).data, emb.W.data[ids])
    ln = LayerNorm(4)
    np.testing.assert_array_equal(ln.gamma.data, 1.0)
    np.testing.assert_array_equal(ln.beta.data, 0.0)
    assert LayerNorm(4, bias=False).beta is None
    assert [n for n, _ in LayerNorm(4, bias=False).named_parameters()] == ["gamma"]


def test_sequential_applies_layers_in_order_and_module_list_refuses_non_modules():
    rng = np.random.default_rng(3)
    a, b = Linear(3, 4, rng=rng), Linear(4, 2, rng=rng)
    x = Tensor(rng.standard_normal((5, 3)))
    np.testing.assert_allclose(Sequential(a, b)(x).data, b(a(x)).data, rtol=1e-12)
    with pytest.raises(TypeError, match="Modules"):
        ModuleList([a, "not a module"])


def test_parameter_requires_grad_and_repr_names_the_layers():
    p = Parameter(np.zeros(2))
    assert p.requires_grad and p.is_leaf
    text = repr(Net())
    assert "Linear(6, 4, bias=True)" in text and "LayerNorm(6" in text and "Dropout(p=0.5)" in text
