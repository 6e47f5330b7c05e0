"""The command line and its presets: train / generate / eval, --key=value type checks, errors."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from minillm import cli
from minillm.train import TrainConfig, config_from_args, load_preset, read_metrics

TINY_ARGS = [
    "--n_layer=2", "--n_head=2", "--n_embd=16", "--block_size=8", "--batch_size=4",
    "--max_iters=6", "--warmup_iters=2", "--lr_decay_iters=6", "--eval_interval=3",
    "--eval_iters=2", "--progress=false",
]  # fmt: skip
FINAL = re.compile(
    r"^final: step=(\d+) train_loss=(\d+\.\d{4}) val_loss=(\d+\.\d{4}) seconds=\d+\.\d$"
)


@pytest.fixture
def trained(tmp_path, corpus_file, capsys):
    """A checkpoint folder written by `minillm train` (and what train printed)."""
    out = tmp_path / "cli"
    rc = cli.main(["train", f"--dataset={corpus_file}", f"--out_dir={out}", *TINY_ARGS])
    printed = capsys.readouterr()
    assert rc == 0, f"minillm train exited {rc}: {printed.err}"
    return out, printed.out


def test_cli_train_ends_with_one_final_line_and_prints_the_paths(trained):
    out, printed = trained
    lines = printed.strip().splitlines()
    finals = [line for line in lines if line.startswith("final:")]
    assert len(finals) == 1 and finals[0] == lines[-1], f"final line(s): {lines}"
    step, train_loss, val_loss = FINAL.match(lines[-1]).groups()
    last = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "eval"][-1]
    assert int(step) == 6 == last["step"], f"final step {step}"
    assert float(val_loss) == round(last["val_loss"], 4), "final val_loss != last evaluation"
    assert float(train_loss) == round(last["train_loss"], 4), "final train_loss"
    assert f"checkpoint: {out}" in printed and f"loss plot: {out / 'loss.png'}" in printed


def test_cli_generate_prints_prompt_plus_sample(trained, capsys):
    out, _ = trained
    args = ["generate", f"--checkpoint={out}", "--prompt", "to be", "--max_new_tokens=12"]
    assert cli.main([*args, "--seed=3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("to be") and len(text) == len("to be") + 12 + 1, repr(text)
    assert cli.main([*args, "--seed=3", "--no_cache", "--top_k=3", "--top_p=0.9"]) == 0
    assert cli.main([*args, "--temperature=0"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--prompt", "to bé"], r"unknown character 'é' at position 4"),
        (["--prompt", ""], "--prompt is empty"),
        (["--prompt", "to", "--top_p=1.5"], "top_p"),
        (["--prompt", "to", "--temperature=-1"], "temperature"),
        (["--prompt", "to", "--top_k=0"], "top_k"),
        (["--prompt", "to", "--max_new_tokens=-2"], "max_new_tokens"),
    ],
)
def test_cli_generate_rejects_bad_input_with_a_clear_error(trained, capsys, extra, message):
    out, _ = trained
    assert cli.main(["generate", f"--checkpoint={out}", *extra]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), f"error message {err!r} lacks {message!r}"


def test_cli_eval_reproduces_the_logged_evaluation(trained, capsys):
    out, _ = trained
    assert cli.main(["eval", "--checkpoint", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    last = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "eval"][-1]
    assert line.startswith("eval: step=6 ") and f"val_loss={last['val_loss']:.4f}" in line, line


def test_cli_missing_checkpoint_and_unknown_command(tmp_path, capsys):
    assert cli.main(["generate", f"--checkpoint={tmp_path}"]) == 2
    assert "checkpoint.json is missing" in capsys.readouterr().err
    assert cli.main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--n_layers=3", "unknown override key 'n_layers'"),
        ("--lr=fast", "lr='fast': expected float"),
        ("--max_iters=2.5", "max_iters='2.5': expected int"),
        ("--bias=maybe", "model.bias='maybe': expected bool"),
        ("--early_stopping_patience=x", "expected int or none"),
        ("--n_head=5", "d_model=128 is not divisible by n_heads=5"),
        ("--model.n_heads=5", "d_model=128 is not divisible by n_heads=5"),
        ("--model.n_layer=x", "unknown override key 'model.n_layer'"),
        ("--model.cell=lstm", "unknown override key 'model.cell'"),
        ("lr=1", "expected --key=value"),
    ],
)
def test_cli_train_rejects_unknown_keys_and_bad_types_listing_valid_keys(arg, message, capsys):
    assert cli.main(["train", arg]) == 2
    err = capsys.readouterr().err
    assert message in err, f"{arg}: {err!r}"
    if "model." in message:
        assert "valid keys: model.block_size (int), model.n_layers" in err, f"{arg}: {err!r}"
    elif "key" in message or "expected" in message:
        assert "valid keys: out_dir (str), seed (int)" in err, f"{arg}: no key list in {err!r}"


def test_overrides_are_typed_and_applied_after_the_preset():
    cfg = config_from_args(["--preset", "shakespeare-char", "--lr=3e-4", "--bias", "true",
                            "--early_stopping_patience=none", "--max_iters=500"])  # fmt: skip
    got = (cfg.lr, cfg.model_config.bias, cfg.early_stopping_patience, cfg.max_iters)
    assert got == (3e-4, True, None, 500), got
    assert cfg.out_dir == "out/shakespeare-char", "the preset's out_dir"
    assert cfg.decay_iters == 500, "the cosine follows max_iters when lr_decay_iters is unset"


def test_model_fields_nest_under_model_and_legacy_gpt_keys_still_work():
    new = config_from_args(["--model.n_layers=6", "--model.d_model=96", "--model.n_heads=3"])
    old = config_from_args(["--n_layer=6", "--n_embd=96", "--n_head=3"])
    assert new == old and new.model_config.n_layers == 6 and new.model_config.d_model == 96
    rnn = config_from_args(["--model=rnnlm", "--model.cell=gru", "--model.n_layers=2"])
    assert (rnn.model, rnn.model_config.cell, rnn.model_config.n_layers) == ("rnnlm", "gru", 2)
    with pytest.raises(
        ValueError, match=r"--n_layer is a GPT key; for model 'rnnlm'.*--model\.FIELD"
    ):
        config_from_args(["--model=rnnlm", "--n_layer=2"])
    with pytest.raises(ValueError, match="unknown model 'bert2'; registered models: gpt, rnnlm"):
        config_from_args(["--model=bert2"])
    d = new.to_dict()
    assert d["model"] == "gpt" and d["model_config"]["n_layers"] == 6
    assert TrainConfig.from_dict(d) == new, "to_dict / from_dict round trip"


def test_a_preset_sets_the_model_in_a_model_table(tmp_path):
    path = tmp_path / "lstm.toml"
    path.write_text('max_iters = 30\n[model]\nname = "rnnlm"\ncell = "lstm"\nd_model = 32\n')
    cfg = config_from_args([f"--preset={path}", "--model.n_layers=2"])
    assert cfg.model == "rnnlm" and cfg.model_config.d_model == 32
    assert cfg.model_config.n_layers == 2 and cfg.max_iters == 30


def test_shakespeare_char_preset_is_nanogpt_baby_config():
    """docs/baselines.md: nanoGPT's CPU baby GPT."""
    cfg = config_from_args(["--preset=shakespeare-char"])
    expected = dict(n_layers=4, n_heads=4, d_model=128, block_size=64, batch_size=12,
                    dropout=0.0, bias=False, max_iters=2000, lr=1e-3, warmup_iters=100,
                    min_lr=1e-4, decay_iters=2000, beta1=0.9, beta2=0.99, weight_decay=0.1,
                    grad_clip=1.0, eval_iters=20, eval_interval=250, tie_weights=True,
                    grad_accum_steps=1, dataset="shakespeare", tokenizer="char")  # fmt: skip
    model_keys = ("n_layers", "n_heads", "d_model", "dropout", "bias", "tie_weights")
    got = {k: getattr(cfg.model_config if k in model_keys else cfg, k) for k in expected}
    assert got == expected, (
        f"preset differs: { {k: v for k, v in got.items() if v != expected[k]} }"
    )


def test_preset_files_reject_unknown_keys_and_bad_types(tmp_path):
    bad_key = tmp_path / "bad_key.toml"
    bad_key.write_text("n_layers = 3\n")
    with pytest.raises(ValueError, match="unknown preset key 'n_layers'.*valid keys"):
        load_preset(str(bad_key))
    bad_type = tmp_path / "bad_type.toml"
    bad_type.write_text("[model]\nn_layers = 3.0\n")
    with pytest.raises(ValueError, match="preset model.n_layers=3.0: expected int"):
        load_preset(str(bad_type))
    with pytest.raises(ValueError, match="shipped preset.*shakespeare-char"):
        load_preset("no-such-preset")
    with pytest.raises(FileNotFoundError, match="preset file .*missing.toml' does not exist"):
        load_preset(str(tmp_path / "missing.toml"))


def test_train_config_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="min_lr must be in"):
        TrainConfig(lr=1e-4, min_lr=1e-3)
    with pytest.raises(ValueError, match="lr_decay_iters must be an int > warmup_iters"):
        TrainConfig(warmup_iters=10, lr_decay_iters=10)
    with pytest.raises(ValueError, match="tokenizer must be"):
        TrainConfig(tokenizer="word")


def test_python_dash_m_minillm_runs_the_cli():
    root = Path(cli.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "minillm", "--help"], capture_output=True,
                          text=True, cwd=root, timeout=60)  # fmt: skip
    assert done.returncode == 0 and "minillm train" in done.stdout, done.stderr
