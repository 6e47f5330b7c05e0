"""C1 initialisation schemes (nn.init.init_scheme_) and C2 parameter sharing: each scheme draws
the spread its formula says, zero init never breaks the symmetry between units, GPT-2's scaled
residual keeps a deep stack's activations level; a tied or shared weight is counted once, stored
once in a checkpoint (aliases in the manifest) and shared again after loading."""

import json
import math

import numpy as np
import pytest
from compress_tiny import TOKENIZER, batch, corpus, tiny_gpt

from minillm.compress import FitConfig, fit, layer_statistics, share_blocks
from minillm.models import load_checkpoint, save_checkpoint
from minillm.models.checkpoint import load_arrays
from minillm.nn import Linear, Module, init
from minillm.tensor import no_grad


class Wide(Module):
    def __init__(self):
        super().__init__()
        self.a = Linear(300, 200)
        self.b = Linear(200, 400)


@pytest.mark.parametrize(
    "scheme,std",
    [
        ("normal", lambda i, o: 0.02),
        ("xavier_uniform", lambda i, o: math.sqrt(2 / (i + o))),
        ("xavier_normal", lambda i, o: math.sqrt(2 / (i + o))),
        ("kaiming_normal", lambda i, o: math.sqrt(2 / i)),
        ("kaiming_uniform", lambda i, o: math.sqrt(2 / i)),
    ],
)
def test_C1_each_scheme_draws_the_spread_its_formula_gives(scheme, std):
    m = Wide()
    init.init_scheme_(m, scheme, np.random.default_rng(0))
    for lin in (m.a, m.b):
        i, o = lin.W.shape
        np.testing.assert_allclose(lin.W.data.std(), std(i, o), rtol=0.02)
        assert np.all(lin.b.data == 0)


def test_C1_gpt2_scheme_scales_the_residual_projections_by_one_over_sqrt_2L():
    model = tiny_gpt(n_layers=4, d_model=30, n_heads=3)
    init.init_scheme_(model, "gpt2", np.random.default_rng(0), 0.02, model.residual_projections())
    res = np.concatenate([m.W.data.ravel() for m in model.residual_projections()])
    other = model.blocks[0].ff.W_1.W.data
    np.testing.assert_allclose(res.std(), 0.02 / math.sqrt(8), rtol=0.05)
    np.testing.assert_allclose(other.std(), 0.02, rtol=0.05)
    with pytest.raises(ValueError, match="unknown scheme 'he'"):
        init.init_scheme_(model, "he", np.random.default_rng(0))


def test_C1_zero_init_fails_by_symmetry_units_stay_identical_through_training():
    model = tiny_gpt()
    init.init_scheme_(model, "zero", np.random.default_rng(0))
    model(*batch())[1].backward()
    for path, m in model.named_modules():
        if isinstance(m, Linear):  # dW = input^T dy with a zero input or a zero dy: exactly 0
            assert np.all(m.W.grad == 0), path
    model.zero_grad()
    fit(model, corpus(), FitConfig(steps=10, batch_size=4, lr=1e-2, warmup=0))
    for _, m in model.named_modules():
        if isinstance(m, Linear):  # every unit (column) of every layer is the same: all zero
            assert np.all(m.W.data == m.W.data[:, :1]) and np.all(m.W.data == 0)


def test_C1_scaled_residual_keeps_deep_activations_smaller_than_plain_normal():
    x, y = batch()
    rms = {}
    for scheme in ("normal", "gpt2"):
        model = tiny_gpt(n_layers=8)
        init.init_scheme_(model, scheme, np.random.default_rng(0), 0.2,
                          model.residual_projections())  # fmt: skip
        rms[scheme] = layer_statistics(model, x, y)["activation_rms"]
    assert len(rms["gpt2"]) == 8
    assert rms["gpt2"][-1] < rms["normal"][-1]
    assert rms["gpt2"][-1] / rms["gpt2"][0] < rms["normal"][-1] / rms["normal"][0]


def test_C2_tied_head_is_counted_and_stored_once(tmp_path):
    tied, untied = tiny_gpt(tie_weights=True), tiny_gpt(tie_weights=False)
    V, C = tied.config.vocab_size, tied.config.d_model
    assert untied.num_params() - tied.num_params() == V * C
    save_checkpoint(tmp_path, tied, TOKENIZER, {})
    stored = load_arrays(tmp_path / json.loads((tmp_path / "checkpoint.json").read_text())[
        "files"]["model"])  # fmt: skip
    assert [k for k, a in stored.items() if a.shape == (V, C)] == ["wte.W"]


def test_C2_cross_layer_sharing_is_counted_stored_and_reloaded_once(tmp_path):
    model = tiny_gpt(n_layers=3)
    per_block = sum(p.size for p in model.blocks[0].parameters())
    before = model.parameter_counts()["total"]
    removed = share_blocks(model)
    assert removed == 2 * per_block == before - model.parameter_counts()["total"]
    assert model.blocks[2] is model.blocks[0]
    x, y = batch()
    fit(model, corpus(), FitConfig(steps=2, batch_size=4))  # one update per shared weight
    assert model.blocks[1].ff.W_1.W is model.blocks[0].ff.W_1.W
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    stored = load_arrays(tmp_path / manifest["files"]["model"])
    assert not any(k.startswith(("blocks.1.", "blocks.2.")) for k in stored)
    assert manifest["aliases"]["blocks.2.ff.W_1.W"] == "blocks.0.ff.W_1.W"
    assert sum(a.size for a in stored.values()) == model.parameter_counts()["total"]
    loaded = load_checkpoint(tmp_path)[0]
    assert loaded.blocks[2] is loaded.blocks[0]
    with no_grad():
        assert np.array_equal(loaded(x, y)[0].numpy(), model.eval()(x, y)[0].numpy())
