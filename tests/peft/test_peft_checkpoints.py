"""Delta checkpoints (C16): a parameter-efficient model saves only what it trained plus a
reference to its base, loads back onto that base, and refuses another base by name."""

import json
import shutil

import numpy as np
import pytest
from peft_tiny import tiny_bert, tiny_gpt

from minillm.finetune import get_method, prepare_to_save
from minillm.models import BertForSequenceClassification, load_checkpoint, save_checkpoint
from minillm.models.checkpoint import load_arrays


def trained(model, seed=0):
    """The model after 'training': its trainable parameters moved."""
    rng = np.random.default_rng(seed)
    for p in model.trainable_parameters():
        p.data += rng.normal(0, 0.05, p.shape).astype(p.dtype)
    return prepare_to_save(model)


def stored_keys(folder) -> list:
    manifest = json.loads((folder / "checkpoint.json").read_text())
    return sorted(load_arrays(folder / manifest["files"]["model"]))


@pytest.fixture
def base(tmp_path, char_tok):
    save_checkpoint(tmp_path / "base", tiny_gpt(char_tok, dtype=np.float32), char_tok, {})
    return tmp_path / "base"


@pytest.mark.parametrize(
    "method, keys",
    [
        ("lora", [f"blocks.{i}.self_attn.W_{n}.{ab}" for i in (0, 1) for n in "qv" for ab in "AB"]),
        ("prefix", ["prefix.kv"]),
        ("head", ["ln_f.beta", "ln_f.gamma", "wte.W"]),
    ],
)
def test_C16_a_delta_checkpoint_holds_the_trained_arrays_and_loads_onto_its_base(
    base, tmp_path, method, keys
):
    model = trained(get_method(method).apply(load_checkpoint(base)[0]))
    x = np.random.default_rng(1).integers(0, model.config.vocab_size, (2, 9))
    expected = model(x)[0].data
    save_checkpoint(tmp_path / "delta", model, None, {}, base=base)
    assert stored_keys(tmp_path / "delta") == sorted(keys)
    loaded, _, manifest = load_checkpoint(tmp_path / "delta")
    assert manifest["base"]["path"] == "../base" and manifest["base"]["model"] == "gpt"
    np.testing.assert_array_equal(loaded(x)[0].data, expected)


def test_C16_adapters_delta_on_a_bert_pretraining_base(tmp_path, wp_tok):
    save_checkpoint(tmp_path / "bert", tiny_bert(wp_tok, dtype=np.float32), wp_tok, {})
    encoder = load_checkpoint(tmp_path / "bert")[0].bert
    model = BertForSequenceClassification.from_encoder(encoder, 4)
    model = trained(get_method("adapter").apply(model, adapter_size=3, adapter_norms=0))
    save_checkpoint(tmp_path / "clf", model, wp_tok, {}, base=tmp_path / "bert")
    keys = stored_keys(tmp_path / "clf")
    assert all(".adapter." in k or k.startswith("head.") for k in keys) and len(keys) == 18
    ids = np.random.default_rng(2).integers(5, wp_tok.vocab_size, (3, 7))
    loaded = load_checkpoint(tmp_path / "clf")[0]
    np.testing.assert_array_equal(loaded(ids)[0].data, model(ids)[0].data)


def test_C16_a_delta_loaded_onto_the_wrong_base_is_refused_naming_both(base, tmp_path, char_tok):
    save_checkpoint(tmp_path / "delta", trained(get_method("lora").apply(load_checkpoint(base)[0])),
                    None, {}, base=base)  # fmt: skip
    other = tmp_path / "other"
    save_checkpoint(other, tiny_gpt(char_tok, seed=9, dtype=np.float32), char_tok, {})
    named = r"was fine-tuned from base '.*base' \(a gpt, sha256 [0-9a-f]{12}\), but '.*other' holds"
    with pytest.raises(ValueError, match=named):
        load_checkpoint(tmp_path / "delta", base=other)
    shutil.rmtree(base)
    shutil.copytree(other, base)  # the base folder now holds another run
    with pytest.raises(ValueError, match="holds another model"):
        load_checkpoint(tmp_path / "delta")
    shutil.rmtree(base)
    with pytest.raises(FileNotFoundError, match=r"its base checkpoint is missing \(looked in"):
        load_checkpoint(tmp_path / "delta")


def test_C16_a_moved_pair_still_loads_and_base_can_be_given(base, tmp_path):
    model = trained(get_method("lora").apply(load_checkpoint(base)[0]))
    save_checkpoint(tmp_path / "delta", model, None, {}, base=base)
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(base, moved / "base")
    shutil.move(tmp_path / "delta", moved / "delta")  # the relative path still holds
    x = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(load_checkpoint(moved / "delta")[0](x)[0].data, model(x)[0].data)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(moved / "base", elsewhere)
    loaded = load_checkpoint(moved / "delta", base=elsewhere)[0]
    np.testing.assert_array_equal(loaded(x)[0].data, model(x)[0].data)


def test_the_base_reference_is_part_of_the_fingerprint(base, tmp_path):
    save_checkpoint(tmp_path / "delta", trained(get_method("head").apply(load_checkpoint(base)[0])),
                    None, {}, base=base)  # fmt: skip
    path = tmp_path / "delta" / "checkpoint.json"
    manifest = json.loads(path.read_text())
    manifest["base"]["sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="do not match the weights file"):
        load_checkpoint(tmp_path / "delta")
