"""`minillm finetune --method=full|head|adapter|lora|prefix` end to end: a GPT adapting to a text
(task "lm", --dataset) whose output folder `minillm eval` and `minillm generate` read, a BERT on
the play task with LoRA, the parameter counts printed, delta checkpoints, and the bad input as
one-line errors."""

import json

import numpy as np
import pytest
from peft_tiny import tiny_bert

from minillm import cli
from minillm.data import load_text
from minillm.models import load_checkpoint, save_checkpoint
from minillm.models.checkpoint import load_arrays

RUN = ["--epochs=1", "--batch_size=4", "--max_len=16", "--max_train=6", "--dropout=0"]


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    """A tiny GPT trained for 4 steps on 30,000 characters; the text to adapt to is a part."""
    folder = tmp_path_factory.mktemp("lm")
    text = load_text("shakespeare")[:30_000]
    (folder / "base.txt").write_text(text, encoding="utf-8")
    (folder / "adapt.txt").write_text(text[12_000:16_000], encoding="utf-8")
    args = ["train", f"--dataset={folder / 'base.txt'}", f"--out_dir={folder / 'base'}",
            "--model.d_model=16", "--model.n_heads=2", "--model.n_layers=2",
            "--model.block_size=16", "--batch_size=4", "--max_iters=4", "--warmup_iters=1",
            "--eval_interval=4", "--eval_iters=1", "--progress=false"]  # fmt: skip
    assert cli.main(args) == 0
    return folder


@pytest.mark.parametrize("method", ["full", "head", "adapter", "lora", "prefix"])
def test_C16_cli_adapts_a_gpt_to_a_text_and_eval_and_generate_read_the_output(
    gpt_run, tmp_path, capsys, method
):
    out = tmp_path / method
    args = ["finetune", f"--checkpoint={gpt_run / 'base'}", f"--dataset={gpt_run / 'adapt.txt'}",
            f"--out_dir={out}", f"--method={method}", *RUN]  # fmt: skip
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert f"method {method}: " in printed and " parameters train" in printed
    assert "test: loss" in printed and (out / "report.json").is_file()
    model, _, manifest = load_checkpoint(out)
    assert ("base" in manifest) == (method != "full")
    assert manifest["train_config"]["dataset"] == str(gpt_run / "adapt.txt")
    assert cli.main(["eval", f"--checkpoint={out}", "--eval_iters=1"]) == 0
    assert "val_ppl=" in capsys.readouterr().out
    assert cli.main(["generate", f"--checkpoint={out}", "--prompt=to ", "--max_new_tokens=5",
                     "--seed=1", "--no_stream"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("to ")


def test_C16_cli_lora_on_the_bert_play_task_writes_a_delta(tmp_path, wp_tok, capsys):
    save_checkpoint(tmp_path / "bert", tiny_bert(wp_tok, dtype=np.float32), wp_tok, {})
    out = tmp_path / "play"
    args = ["finetune", f"--checkpoint={tmp_path / 'bert'}", "--task=play", f"--out_dir={out}",
            "--method=lora", "--lora_r=2", "--epochs=1", "--max_train=16", "--max_len=24",
            "--batch_size=8"]  # fmt: skip
    assert cli.main(args) == 0
    assert "method lora: 248 of " in capsys.readouterr().out  # 2 x 2 x 2 (10 + 10) + 10 x 8 + 8
    manifest = json.loads((out / "checkpoint.json").read_text())
    keys = load_arrays(out / manifest["files"]["model"])
    assert all(k.endswith((".A", ".B")) or k.startswith("head.") for k in keys)
    model = load_checkpoint(out)[0]
    assert model.config.n_classes == 8 and manifest["base"]["model"] == "bert"


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--method=nope"],
            "unknown fine-tuning method 'nope'; methods: full, head, adapter, lora, prefix",
        ),  # fmt: skip
        (["--method=lora", "--lora_targets=W_z"], "lora: target 'W_z' matches no Linear layer"),
        (["--method=lora", "--lora_r=17"], "rank r=17 is larger than the layer (16 x 16)"),
        (["--lr=0"], "lr must be a number > 0, got 0.0"),
        (["--lr=-0.001"], "lr must be a number > 0, got -0.001"),
        (["--method=adapter", "--lora_r=4"], "unknown option --lora_r for --method=adapter"),
    ],
)
def test_cli_bad_input_is_a_one_line_error(gpt_run, tmp_path, capsys, extra, message):
    args = ["finetune", f"--checkpoint={gpt_run / 'base'}", f"--dataset={gpt_run / 'adapt.txt'}",
            f"--out_dir={tmp_path / 'o'}", *RUN, *extra]  # fmt: skip
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    out = tmp_path / "o"
    assert not out.exists() or not any(out.iterdir()), "the failed run left files (blocks a rerun)"


def test_cli_task_and_checkpoint_must_fit(gpt_run, tmp_path, wp_tok, capsys):
    base = ["finetune", f"--out_dir={tmp_path / 'o'}"]
    assert cli.main([*base, f"--checkpoint={gpt_run / 'base'}", "--task=lm"]) == 2
    assert "--task=lm needs --dataset=PATH" in capsys.readouterr().err
    save_checkpoint(tmp_path / "bert", tiny_bert(wp_tok, dtype=np.float32), wp_tok, {})
    assert cli.main([*base, f"--checkpoint={tmp_path / 'bert'}", "--dataset=shakespeare"]) == 2
    assert "holds a bert model (masked_lm); --task=lm" in capsys.readouterr().err
