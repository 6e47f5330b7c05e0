"""The surgery hook of checkpoints (manifest "surgery", replayed by load_checkpoint) and the
`minillm compress` command: compressed checkpoints evaluate and generate like any other, and bad
input ends in one clear line with exit status 2."""

import json
import re

import pytest
from compress_tiny import TEXT, TOKENIZER, tiny_gpt

from minillm import cli
from minillm.compress import quantize_model
from minillm.models import (
    GPT,
    MODELS,
    GPTConfig,
    load_checkpoint,
    load_weights,
    register,
    save_checkpoint,
)
from minillm.models import checkpoint as ckpt
from minillm.nn import Linear


def test_loading_a_quantised_checkpoint_as_a_float_model_names_the_surgery(tmp_path):
    model = tiny_gpt()
    quantize_model(model, bits=8)
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    with pytest.raises(ValueError, match=r"changed by surgery \['quantize'\].*load_checkpoint"):
        load_weights(tiny_gpt(), tmp_path)


def test_an_edited_surgery_record_fails_the_fingerprint(tmp_path):
    model = tiny_gpt()
    quantize_model(model, bits=8)
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    path = tmp_path / "checkpoint.json"
    manifest = json.loads(path.read_text())
    manifest["surgery"][0]["args"]["bits"] = 4
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="do not match the weights file"):
        load_checkpoint(tmp_path)


def test_a_surgery_no_imported_package_registers_is_a_clear_error(tmp_path, monkeypatch):
    model = tiny_gpt()
    quantize_model(model, bits=8)
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    monkeypatch.delitem(ckpt.SURGERIES, "quantize")
    with pytest.raises(ValueError, match=r"surgery 'quantize', which no imported package"):
        load_checkpoint(tmp_path)


def test_surgery_is_a_general_hook_another_package_can_register(tmp_path, monkeypatch):
    def widen_head(model, bias):  # e.g. what LoRA or an adapter would register
        model.lm_head = Linear(model.config.d_model, model.config.vocab_size, bias)
        ckpt.record_surgery(model, "untie", {"bias": bias})

    monkeypatch.setitem(ckpt.SURGERIES, "untie", widen_head)
    model = tiny_gpt()
    widen_head(model, True)
    model.lm_head.b.data[:] = 3.0
    save_checkpoint(tmp_path, model, TOKENIZER, {})
    loaded = load_checkpoint(tmp_path)[0]
    assert (loaded.lm_head.b.data == 3.0).all() and loaded.surgery == model.surgery
    with pytest.raises(ValueError, match="is not registered"):
        ckpt.record_surgery(model, "nothing-registers-this", {})


def test_a_float_checkpoint_has_no_surgery_or_alias_keys(tmp_path):
    save_checkpoint(tmp_path, tiny_gpt(), TOKENIZER, {})
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    assert "surgery" not in manifest and "aliases" not in manifest


# ---- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint written by `minillm train` on a small text."""
    folder = tmp_path_factory.mktemp("compress-cli")
    text = folder / "text.txt"
    text.write_text(TEXT * 3, encoding="utf-8")
    out = folder / "run"
    args = ["train", f"--dataset={text}", f"--out_dir={out}", "--model.n_layers=2",
            "--model.n_heads=2", "--model.d_model=16", "--model.block_size=8", "--batch_size=4",
            "--max_iters=6", "--warmup_iters=2", "--lr_decay_iters=6", "--eval_interval=3",
            "--eval_iters=2", "--progress=false"]  # fmt: skip
    assert cli.main(args) == 0
    return out


EVAL = re.compile(r"eval: step=6 train_loss=\d+\.\d{4} val_loss=(\d+\.\d{4}) val_ppl=")


@pytest.mark.parametrize(
    "method,extra,said",
    [
        ("int8", [], "12 Linear layers to int8"),
        ("int4", ["--per_channel=false", "--mode=weight_only"], "12 Linear layers to int4"),
        ("prune", ["--sparsity=0.5", "--finetune_steps=3"], "50.0% of the Linear weights zeroed"),
        ("svd", ["--rank=4", "--skip", "*.W_o"], "10 Linear layers factorised (ranks [4])"),
    ],
)
def test_cli_compress_writes_a_checkpoint_that_eval_and_generate_load(
    trained, tmp_path, capsys, method, extra, said
):
    out = tmp_path / method
    assert cli.main(["compress", f"--checkpoint={trained}", f"--method={method}",
                     f"--out={out}", *extra]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert said in printed and "bytes" in printed
    assert cli.main(["eval", "--checkpoint", str(out)]) == 0
    assert EVAL.search(capsys.readouterr().out)
    assert cli.main(["generate", f"--checkpoint={out}", "--max_new_tokens=5", "--seed=1"]) == 0
    assert cli.main(["compress", f"--checkpoint={trained}", "--method=int8",
                     f"--out={out}"]) == 2  # fmt: skip
    assert "holds a checkpoint; pass --overwrite=true" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--method=int3"], "invalid choice: 'int3'"),
        (["--method=prune", "--sparsity=1.0"], r"sparsity must be in \[0, 1\), got 1.0"),
        (["--method=prune", "--sparsity=-0.2"], r"sparsity must be in \[0, 1\), got -0.2"),
        (["--method=svd", "--rank=0"], r"0 < rank < min\(in, out\) = 16 .* got 0"),
        (["--method=svd", "--rank=16"], r"0 < rank < min\(in, out\) = 16 .* got 16"),
        (["--method=svd"], "exactly one of --rank=R and --energy=E"),
    ],
)
def test_cli_compress_rejects_bad_input_in_one_line(trained, tmp_path, capsys, extra, message):
    assert cli.main(["compress", f"--checkpoint={trained}", f"--out={tmp_path / 'x'}",
                     *extra]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert re.search(message, err), err
    assert len(err.splitlines()) == 1 or "usage:" in err


def test_cli_compress_of_an_unknown_model_names_the_registered_ones(tmp_path, capsys, monkeypatch):
    class Custom(GPT):
        pass

    monkeypatch.setitem(MODELS, "custom", None)
    MODELS.pop("custom")
    register("custom", Custom, GPTConfig, "causal_lm")
    save_checkpoint(tmp_path / "c", Custom(GPTConfig(**{**tiny_gpt().config.to_dict()})),
                    TOKENIZER, {})  # fmt: skip
    MODELS.pop("custom")  # a checkpoint of a model this installation does not know
    assert cli.main(["compress", f"--checkpoint={tmp_path / 'c'}", "--method=int8",
                     f"--out={tmp_path / 'o'}"]) == 2  # fmt: skip
    assert "unknown model 'custom'; registered models: gpt" in capsys.readouterr().err
