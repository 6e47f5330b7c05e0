"""One registry behind checkpoints, training, generation, evaluation and the command line: every
registered model saves and loads, the LSTM trains end to end from the CLI, a new model is one
registry entry, and run folders are never lost to a new run, a resume or a diverged step."""

import dataclasses
import math
import re

import numpy as np
import pytest

from minillm import cli, nn
from minillm.data import CharTokenizer
from minillm.models import (
    GPT,
    MODELS,
    RNNLM,
    GPTConfig,
    ModelConfig,
    RNNLMConfig,
    Seq2SeqConfig,
    Seq2SeqTransformer,
    load_checkpoint,
    load_weights,
    register,
    save_checkpoint,
)
from minillm.train import TrainConfig, TrainingStopped, read_metrics, train

TEXT = "to be or not to be, that is the question: whether tis nobler in the mind\n" * 40
SMALL_RUN = [
    "--batch_size=4", "--max_iters=6", "--warmup_iters=1", "--eval_interval=3",
    "--eval_iters=2", "--progress=false", "--log_interval=1",
]  # fmt: skip


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def models():
    tok = CharTokenizer.from_text(TEXT)
    V = tok.vocab_size
    yield "gpt", GPT(GPTConfig(vocab_size=V, block_size=8, n_layers=1, n_heads=2, d_model=8)), tok
    yield "rnnlm", RNNLM(RNNLMConfig(vocab_size=V, d_model=8, n_layers=2, cell="gru")), tok
    yield "seq2seq", Seq2SeqTransformer(Seq2SeqConfig(d_model=8, n_heads=2, d_ff=8)), None


@pytest.mark.parametrize("name, model, tok", list(models()), ids=lambda v: str(v)[:10])
def test_every_registered_model_round_trips_through_a_checkpoint(tmp_path, name, model, tok):
    save_checkpoint(tmp_path, model, tok, {"note": "by hand"})
    loaded, loaded_tok, manifest = load_checkpoint(tmp_path)
    assert manifest["model"] == name and type(loaded) is type(model) and not loaded.training
    assert loaded.config == model.config
    for k, v in model.state_dict().items():
        assert np.array_equal(loaded.state_dict()[k], v), f"{name}: {k} differs after loading"
    assert (loaded_tok is None) == (tok is None)


def test_a_checkpoint_of_another_model_type_names_the_keys(tmp_path):
    _, rnn, tok = list(models())[1]
    save_checkpoint(tmp_path, rnn, tok, {})
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layers=1, n_heads=2, d_model=8))
    with pytest.raises(ValueError, match=r"checkpoint: rnnlm .*missing keys \['blocks\.0\."):
        load_weights(gpt, tmp_path)


def test_a_base_checkpoint_loads_into_a_model_with_extra_parameters(tmp_path):
    _, base, tok = next(models())
    save_checkpoint(tmp_path, base, tok, {})
    grown = GPT(base.config, seed=7)
    grown.blocks[0].self_attn.W_q.A = nn.Parameter(np.zeros((8, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"missing keys \['blocks\.0\.self_attn\.W_q\.A'\]"):
        load_weights(grown, tmp_path)
    missing, unexpected = load_weights(grown, tmp_path, strict=False)
    assert missing == ["blocks.0.self_attn.W_q.A"] and unexpected == []
    assert np.array_equal(grown.wte.W.data, base.wte.W.data), "the base weights were loaded"


@dataclasses.dataclass(frozen=True)
class BigramConfig(ModelConfig):
    vocab_size: int | None = None  # V
    block_size: int = 8  # training window


class Bigram(nn.Module):
    """logits[t] = W[idx[t]]: the smallest language model, registered from outside the library."""

    def __init__(self, config, seed=0):
        super().__init__()
        self.config = config
        self.table = nn.Embedding(config.vocab_size, config.vocab_size,
                                  rng=np.random.default_rng(seed))  # fmt: skip
        self.context_length = None

    def forward(self, idx, targets=None, last_only=False, attention_mask=None):
        import minillm.functional as F

        logits = self.table(np.asarray(idx))  # (B, T, V)
        logits = logits[:, -1:] if last_only else logits
        if targets is None:
            return logits, None
        B, T, V = logits.shape
        return logits, F.cross_entropy(logits.reshape(B * T, V), np.asarray(targets).reshape(-1))


def test_a_new_model_is_one_registry_entry(tmp_path, text_file, capsys):
    register("bigram", Bigram, BigramConfig, "causal_lm")
    try:
        out = tmp_path / "bigram"
        rc = cli.main(["train", "--model=bigram", f"--dataset={text_file}", f"--out_dir={out}",
                       "--lr=0.1", *SMALL_RUN])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        assert cli.main(["generate", f"--checkpoint={out}", "--prompt=to", "--no_cache",
                         "--max_new_tokens=5", "--seed=1"]) == 0  # fmt: skip
        assert cli.main(["eval", f"--checkpoint={out}", f"--data={text_file}"]) == 0
        printed = capsys.readouterr().out
        assert "final: step=6" in printed and "ppl=" in printed
    finally:
        del MODELS["bigram"]


def test_cli_trains_resumes_evaluates_and_samples_an_lstm(tmp_path, text_file, capsys):
    """--model=rnnlm --model.cell=lstm end to end; the resumed run equals an uninterrupted one."""
    # lr_decay_iters fixed: unset, the cosine would follow each call's max_iters (3, then 6)
    common = ["--model=rnnlm", "--model.cell=lstm", "--model.d_model=16", "--model.n_layers=2",
              "--model.block_size=8", f"--dataset={text_file}", "--lr_decay_iters=6",
              *SMALL_RUN]  # fmt: skip
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli.main(["train", f"--out_dir={straight}", *common]) == 0
    assert cli.main(["train", f"--out_dir={split}", *common, "--max_iters=3"]) == 0
    assert cli.main(["train", f"--out_dir={split}", "--resume=true", "--max_iters=6"]) == 0
    err = capsys.readouterr().err
    assert "resume: max_iters: 3 -> 6" in err, "the changed setting was not reported"
    a, b = read_metrics(straight / "metrics.jsonl"), read_metrics(split / "metrics.jsonl")
    assert [r.get("loss", r.get("val_loss")) for r in a] == [
        r.get("loss", r.get("val_loss")) for r in b
    ], "test_lstm_checkpoint_resume_is_exact: resumed losses differ"
    wa, wb = load_checkpoint(straight)[0].state_dict(), load_checkpoint(split)[0].state_dict()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa), "resumed weights differ"
    model, _, manifest = load_checkpoint(split)
    assert manifest["model"] == "rnnlm" and model.config.cell == "lstm"
    assert (split / "loss.png").is_file()
    assert cli.main(["generate", f"--checkpoint={split}", "--prompt=to be", "--seed=2",
                     "--max_new_tokens=10"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("to be")
    assert cli.main(["eval", f"--checkpoint={split}"]) == 0
    assert cli.main(["eval", f"--checkpoint={split}", f"--data={text_file}"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    loss, ppl = (float(line.split(f"{k}=")[1].split()[0]) for k in ("loss", "ppl"))
    assert f"tokens={len(TEXT) - 1}" in line and math.isclose(ppl, math.exp(loss), rel_tol=1e-3)


def test_eval_on_another_text_reports_characters_outside_the_vocabulary(tmp_path, text_file,
                                                                         capsys):  # fmt: skip
    out = tmp_path / "run"
    assert cli.main(["train", f"--dataset={text_file}", f"--out_dir={out}", "--model.d_model=8",
                     "--model.n_heads=2", "--model.n_layers=1", *SMALL_RUN]) == 0  # fmt: skip
    other = tmp_path / "other.txt"
    other.write_text("to be or not to be? ZZ é\n" * 5, encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["eval", f"--checkpoint={out}", f"--data={other}"]) == 2
    err = capsys.readouterr().err
    assert "20 characters outside the vocabulary (3 distinct: ['?', 'Z', 'é'])" in err, err
    assert "--unknown=skip" in err
    assert cli.main(["eval", f"--checkpoint={out}", f"--data={other}", "--unknown=skip"]) == 0
    assert "handled by 'skip'" in capsys.readouterr().out
    assert cli.main(["eval", f"--checkpoint={out}", f"--data={other}", "--unknown= "]) == 0
    assert cli.main(["eval", f"--checkpoint={out}", f"--data={other}", "--unknown=unk"]) == 2
    assert "no unknown token" in capsys.readouterr().err
    assert cli.main(["eval", f"--checkpoint={out}", "--eval_iters=0"]) == 2
    assert "expected an int >= 1, got 0" in capsys.readouterr().err
    assert cli.main(["eval", f"--checkpoint={out}", f"--data={tmp_path / 'none.txt'}"]) == 2


def test_a_new_run_refuses_a_folder_that_holds_another_run(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    args = ["train", f"--dataset={text_file}", f"--out_dir={out}", "--model.d_model=8",
            "--model.n_heads=2", "--model.n_layers=1", *SMALL_RUN]  # fmt: skip
    assert cli.main(args) == 0
    before = (out / "checkpoint.json").read_text()
    assert cli.main([*args, "--max_iters=2"]) == 2
    err = capsys.readouterr().err
    assert "holds another run" in err and "--resume=true" in err and "--overwrite=true" in err
    assert (out / "checkpoint.json").read_text() == before, "the finished run was touched"
    assert cli.main([*args, "--resume=true", "--batch_size=5"]) == 2
    assert "batch_size: 4 -> 5" in capsys.readouterr().err
    assert cli.main([*args, "--overwrite=true", "--max_iters=2"]) == 0
    assert load_checkpoint(out)[2]["state"]["step"] == 2
    file = tmp_path / "a_file"
    file.write_text("x")
    assert cli.main([*args[:2], f"--out_dir={file}", *args[3:]]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, text_file):
    small = GPTConfig(n_layers=2, n_heads=2, d_model=16, block_size=8)
    cfg = TrainConfig(dataset=str(text_file), out_dir=str(tmp_path / "run"), lr=1000.0,
                      grad_clip=0.0, warmup_iters=0, max_iters=60, eval_interval=20,
                      eval_iters=2, batch_size=4, progress=False, model_config=small)  # fmt: skip
    with pytest.raises(TrainingStopped, match=r"diverged at step \d+: loss .*no update") as info:
        train(cfg, log=lambda m: None)
    assert re.search(r"loss (nan|inf)|gradient norm (nan|inf)", str(info.value)), info.value
    model, _, manifest = load_checkpoint(tmp_path / "run")
    assert all(np.isfinite(v).all() for v in model.state_dict().values()), "a NaN checkpoint"
    assert manifest["state"]["step"] < 20


def test_train_config_checks_types_at_construction():
    with pytest.raises(ValueError, match="max_iters must be an int, got 4.7"):
        TrainConfig(max_iters=4.7)
    with pytest.raises(ValueError, match="batch_size must be an int, got 2.5"):
        TrainConfig(batch_size=2.5)
    with pytest.raises(ValueError, match="lr must be a number, got 'fast'"):
        TrainConfig(lr="fast")
    with pytest.raises(TypeError, match="model_config must be a GPTConfig for model 'gpt'"):
        TrainConfig(model_config=RNNLMConfig())


def test_cli_trains_evaluates_and_translates_with_a_seq2seq_model(tmp_path, capsys):
    out = tmp_path / "rev"
    args = ["train", "--model=seq2seq", "--dataset=reversal", f"--out_dir={out}",
            "--model.d_model=16", "--model.d_ff=16", "--model.n_encoder_layers=1",
            "--model.n_decoder_layers=1", "--batch_size=8", "--max_iters=4", "--warmup_iters=1",
            "--eval_interval=2", "--eval_iters=1", "--progress=false"]  # fmt: skip
    assert cli.main(args) == 0, capsys.readouterr().err
    model, tok, manifest = load_checkpoint(out)
    assert manifest["model"] == "seq2seq" and type(tok).__name__ == "DigitTokenizer"
    capsys.readouterr()
    assert cli.main(["generate", f"--checkpoint={out}", "--prompt=4071"]) == 0
    assert set(capsys.readouterr().out.strip()) <= set("0123456789?")
    assert cli.main(["eval", f"--checkpoint={out}"]) == 0
    assert "test_strings=500" in capsys.readouterr().out
    assert cli.main(["generate", f"--checkpoint={out}", "--prompt=40x1"]) == 2
    assert "'x' at position 2 is not a digit" in capsys.readouterr().err
    assert cli.main([*args[:3], f"--out_dir={tmp_path / 'b'}", "--dataset=shakespeare"]) == 2
    assert "a seq2seq model trains on --dataset=reversal" in capsys.readouterr().err


def test_training_starts_with_a_header_and_prints_progress_lines_when_piped(tmp_path, text_file):
    lines = []
    cfg = TrainConfig(dataset=str(text_file), out_dir=str(tmp_path / "run"), max_iters=40,
                      warmup_iters=2, eval_interval=40, eval_iters=1, batch_size=2,
                      progress=True, model_config=GPTConfig(n_layers=1, n_heads=2, d_model=8,
                                                            block_size=8))  # fmt: skip
    train(cfg, log=lines.append)  # pytest's stderr is not a terminal: the bar stays quiet
    header = lines[0]
    for part in ("model: gpt", "parameters: ", "data: ", "vocabulary 20", "steps: 40 x 16 tokens",
                 "lr 0.001 -> 0.0001 at step 40", "device: cpu; outputs: "):  # fmt: skip
        assert part in header, f"{part!r} missing from the header {header!r}"
    progress = [line for line in lines if line.startswith("step ") and "ETA" in line]
    assert len(progress) == 20 and progress[-1].startswith("step 40/40 (100 %): loss ")
    assert "tok/s" in progress[0] and "lr " in progress[0]


def test_a_run_started_with_overwrite_resumes(tmp_path, text_file):
    """make demo starts with --overwrite=true; the resume command printed after Ctrl-C must work."""
    out = tmp_path / "run"
    small = [f"--dataset={text_file}", f"--out_dir={out}", "--model.d_model=8", "--model.n_heads=2",
             "--model.n_layers=1", *SMALL_RUN]  # fmt: skip
    assert cli.main(["train", *small, "--overwrite=true", "--max_iters=3"]) == 0
    assert cli.main(["train", f"--out_dir={out}", "--resume=true", "--max_iters=6"]) == 0
    assert load_checkpoint(out)[2]["state"]["step"] == 6
