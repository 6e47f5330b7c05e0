"""A damaged or edited checkpoint, and bad generation input, give one-line errors naming the file,
key or argument (never a NumPy or safetensors traceback, never a silently different model)."""

import json

import pytest

from minillm import cli
from minillm.data import CharTokenizer
from minillm.generate import generate
from minillm.models import GPT, GPTConfig, load_checkpoint, save_checkpoint

TEXT = "to be or not to be\n"


@pytest.fixture
def folder(tmp_path):
    tok = CharTokenizer.from_text(TEXT)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layers=1, n_heads=2,
                          d_model=8))  # fmt: skip
    save_checkpoint(tmp_path, model, tok, {})
    return tmp_path


def manifest_of(folder):
    return json.loads((folder / "checkpoint.json").read_text())


def write_manifest(folder, manifest):
    (folder / "checkpoint.json").write_text(json.dumps(manifest))


def test_a_truncated_checkpoint_json_names_the_file(folder):
    path = folder / "checkpoint.json"
    path.write_text(path.read_text()[:50])
    with pytest.raises(ValueError, match=r"checkpoint\.json: not valid JSON .*truncated"):
        load_checkpoint(folder)


def test_a_checkpoint_json_without_a_required_key_names_it(folder):
    manifest = manifest_of(folder)
    del manifest["model_config"]
    write_manifest(folder, manifest)
    with pytest.raises(ValueError, match=r"required keys missing: \['model_config'\]"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    "damage", [b"", b"\x00\x01garbage" * 10, None], ids=["emptied", "random", "truncated"]
)
def test_a_damaged_weights_file_names_the_file(folder, damage):
    weights = folder / manifest_of(folder)["files"]["model"]
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage is None else damage)
    manifest = manifest_of(folder)
    del manifest["sha256"]  # so the damage reaches the safetensors reader
    write_manifest(folder, manifest)
    with pytest.raises(ValueError, match=rf"{weights.name}' is not a readable safetensors file"):
        load_checkpoint(folder)


def test_an_edited_config_does_not_load_silently(folder):
    manifest = manifest_of(folder)
    manifest["model_config"]["n_heads"] = 4  # same weight shapes, another model
    write_manifest(folder, manifest)
    with pytest.raises(ValueError, match="do not match the weights file .* checkpoint.json edited"):
        load_checkpoint(folder)


def test_a_tokenizer_that_does_not_fit_the_model_is_found_at_load(folder):
    manifest = manifest_of(folder)
    del manifest["sha256"]
    manifest["tokenizer"] = CharTokenizer.from_text(TEXT + "xyz").to_dict()
    write_manifest(folder, manifest)
    with pytest.raises(
        ValueError, match="its tokenizer has 11 ids but the model's vocabulary is 8"
    ):
        load_checkpoint(folder)


def test_a_missing_weights_file_names_it(folder):
    (folder / manifest_of(folder)["files"]["model"]).unlink()
    with pytest.raises(
        FileNotFoundError, match=r"checkpoint file .*model-.*\.safetensors' is missing"
    ):
        load_checkpoint(folder)


def test_generate_with_a_string_prompt_says_to_encode_it(folder):
    model = load_checkpoint(folder)[0]
    with pytest.raises(TypeError, match=r"got the string 'to be'; encode it first"):
        generate(model, "to be", 3)


def test_cli_reports_damage_and_caps_in_one_line(folder, capsys):
    assert cli.main(["generate", f"--checkpoint={folder}", "--max_new_tokens=1000000"]) == 2
    assert "over the cap of 100,000" in capsys.readouterr().err
    assert cli.main(["generate", f"--checkpoint={folder}", "--device=cuda", "--prompt=to"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'cuda' needs" in err, err
    (folder / "checkpoint.json").write_text("{")
    assert cli.main(["eval", f"--checkpoint={folder}"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
