"""Training: gradient accumulation (F12, C9), AdamW groups and schedule (C21), determinism,
exact resume, atomic checkpoints, mismatch errors, early stopping (C22), metrics and plot."""

import json
import math
import os

import numpy as np
import pytest
from lm_tiny import tiny_gpt

import minillm.models.checkpoint as ckpt_module
from minillm.data import CharTokenizer
from minillm.models import GPT
from minillm.optim import warmup_cosine_lr
from minillm.train import (
    accumulate_gradients,
    configure_optimizer,
    load_checkpoint,
    load_weights,
    read_metrics,
    save_checkpoint,
    train,
    train_step,
)


def test_F12_grad_accumulation_equals_big_batch(assert_close):
    """(1/k) sum_j grad L_j over k equal micro-batches = grad L of their concatenation."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 11, (6, 7)), rng.integers(0, 11, (6, 7))
    big, acc = tiny_gpt(np.float64, seed=1), tiny_gpt(np.float64, seed=1)
    loss_big = accumulate_gradients(big, [(x, y)])
    micro = [(x[i : i + 2], y[i : i + 2]) for i in range(0, 6, 2)]  # k = 3 micro-batches of 2
    loss_acc = accumulate_gradients(acc, micro)
    assert_close(np.asarray(loss_acc), np.asarray(loss_big), "F12 accumulated mean loss")
    for (name, p), q in zip(big.named_parameters(), acc.parameters()):
        assert_close(q.grad, p.grad, f"F12 gradient of {name}")


def test_C9_accumulated_steps_equal_big_batch_steps(assert_close):
    rng = np.random.default_rng(1)
    big, acc = tiny_gpt(np.float64, seed=2), tiny_gpt(np.float64, seed=2)
    opts = [configure_optimizer(m, 1e-2, 0.1, (0.9, 0.99)) for m in (big, acc)]
    for _ in range(3):
        x, y = rng.integers(0, 11, (4, 8)), rng.integers(0, 11, (4, 8))
        la, _ = train_step(big, opts[0], [(x, y)], 1e-2, 0.5)
        lb, _ = train_step(acc, opts[1], [(x[:2], y[:2]), (x[2:], y[2:])], 1e-2, 0.5)
        assert_close(np.asarray(lb), np.asarray(la), "C9 step loss")
    for (name, p), q in zip(big.named_parameters(), acc.parameters()):
        # 3 AdamW steps divide by sqrt(v): a few ulps of gradient become ~1e-9 relative
        assert np.abs(q.data - p.data).max() < 1e-9, f"C9 weights of {name} after 3 steps"


def test_C21_adamw_decays_only_2d_weights():
    model = tiny_gpt()
    opt = configure_optimizer(model, 1e-3, 0.1, (0.9, 0.99))
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    for name, p in model.named_parameters():
        want = p.ndim >= 2
        assert (id(p) in decayed) == want, f"{name} {p.shape}: decay {not want} expected {want}"
    assert opt.param_groups[0]["weight_decay"] == 0.1 and opt.param_groups[1]["weight_decay"] == 0
    assert opt.param_groups[0]["betas"] == (0.9, 0.99), "betas"


def test_training_is_deterministic_and_follows_the_schedule(tiny_run):
    a = train(tiny_run("a"), log=lambda m: None)
    b = train(tiny_run("b"), log=lambda m: None)
    c = train(tiny_run("c", seed=6), log=lambda m: None)
    assert a.losses == b.losses, f"same seed, different losses: {a.losses} vs {b.losses}"
    assert a.losses != c.losses, "seeds 5 and 6 gave the same losses"
    assert len(a.losses) == 8 and a.step == 8, f"{len(a.losses)} losses, step {a.step}"
    cfg = tiny_run()
    records = [r for r in read_metrics(a.metrics) if r["kind"] == "train"]
    for r in records:
        want = warmup_cosine_lr(r["step"], cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.lr_decay_iters)
        assert r["lr"] == want, f"C21: lr at step {r['step']} is {r['lr']}, expected {want}"
        assert r["loss"] == a.losses[r["step"]], f"metrics loss at step {r['step']}"
    evals = [r["step"] for r in read_metrics(a.metrics) if r["kind"] == "eval"]
    assert evals == [0, 4, 8], f"evaluations at {evals}"
    assert a.plot.is_file() and a.plot.read_bytes()[:4] == b"\x89PNG", "loss.png"


def test_resume_gives_bit_identical_losses(tiny_run):
    """16 steps straight vs 8 + save + load + 8 (dropout on: its generators resume too)."""
    kw = dict(dropout=0.1, lr_decay_iters=16)
    straight = train(tiny_run("straight", max_iters=16, **kw), log=lambda m: None)
    first = train(tiny_run("split", max_iters=8, **kw), log=lambda m: None)
    second = train(tiny_run("split", max_iters=16, resume=True, **kw), log=lambda m: None)
    assert first.losses + second.losses == straight.losses, (
        f"resume: {first.losses} + {second.losses} != {straight.losses}"
    )
    assert (second.val_loss, second.train_loss) == (straight.val_loss, straight.train_loss)
    steps = [(r["kind"], r["step"]) for r in read_metrics(second.metrics)]
    assert steps == [(r["kind"], r["step"]) for r in read_metrics(straight.metrics)], "metrics"


def test_checkpoint_survives_a_crash_mid_write(tiny_run, monkeypatch, tmp_path):
    train(tiny_run("run", max_iters=4), log=lambda m: None)
    folder = tmp_path / "run"
    model, tok, manifest = load_checkpoint(folder)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    files_before = sorted(os.listdir(folder))
    changed = GPT(model.config, seed=99)
    opt = configure_optimizer(changed, 1e-3, 0.1, (0.9, 0.99))
    real_save = ckpt_module.save_file

    def crash_on_optimizer(arrays, path):  # the weights are written, then the process "dies"
        if "optimizer" in os.path.basename(path):
            raise OSError("simulated crash while writing the optimizer state")
        real_save(arrays, path)

    monkeypatch.setattr(ckpt_module, "save_file", crash_on_optimizer)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(folder, changed, tok, manifest["train_config"], opt, {"step": 99})
    monkeypatch.setattr(ckpt_module, "save_file", real_save)
    real_replace = os.replace

    def crash_on_commit(src, dst):  # every array file is complete; the manifest swap fails
        if str(dst).endswith("checkpoint.json"):
            raise OSError("simulated crash at the commit")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt_module.os, "replace", crash_on_commit)
    with pytest.raises(OSError, match="at the commit"):
        save_checkpoint(folder, changed, tok, manifest["train_config"], opt, {"step": 99})
    monkeypatch.setattr(ckpt_module.os, "replace", real_replace)
    model2, _, manifest2 = load_checkpoint(folder)
    assert manifest2["state"]["step"] == 4, "the manifest moved to the crashed checkpoint"
    for k, v in model2.state_dict().items():
        assert np.array_equal(v, before[k]), f"weights {k} changed by a crashed save"
    stray = set(os.listdir(folder)) - set(files_before)
    assert all(".tmp-" not in f for f in stray), f"temporary files left behind: {stray}"
    save_checkpoint(folder, changed, tok, manifest["train_config"], opt, {"step": 5})
    left = [f for f in os.listdir(folder) if f.endswith(".safetensors")]
    assert len(left) == 2, f"the next save did not clear the crashed files: {left}"


def test_checkpoint_for_another_architecture_names_keys_and_shapes(tiny_run, tmp_path):
    train(tiny_run("run", max_iters=1, eval_interval=1), log=lambda m: None)
    folder = tmp_path / "run"
    V = load_checkpoint(folder)[0].config.vocab_size
    wider = tiny_gpt(d_model=12, vocab_size=V, bias=False)  # another width
    with pytest.raises(ValueError, match=rf"wte\.W: checkpoint \({V}, 16\) vs model \({V}, 12\)"):
        load_weights(wider, folder)
    deeper = tiny_gpt(n_layers=3, vocab_size=V, bias=False)
    with pytest.raises(ValueError, match=r"missing keys \['blocks\.2\."):
        load_weights(deeper, folder)
    other_vocab = tiny_gpt(vocab_size=V + 2, bias=False)
    with pytest.raises(
        ValueError, match=rf"wte\.W: checkpoint \({V}, 16\) vs model \({V + 2}, 16\)"
    ):
        load_weights(other_vocab, folder)
    with pytest.raises(ValueError, match=r"resume: .*model_config: .*d_model=16.* -> .*d_model=12"):
        train(tiny_run("run", d_model=12, n_heads=2, resume=True), log=lambda m: None)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint.json is missing"):
        load_checkpoint(tmp_path)


def test_C22_early_stopping_stops_after_patience_evaluations(tiny_run):
    """lr = 0: the weights never change, so each evaluation's val loss is noise (other batches
    each time); the run must stop at the first evaluation not better than the best so far."""
    cfg = tiny_run("es", lr=0.0, min_lr=0.0, max_iters=60, eval_interval=2, eval_iters=1,
                   early_stopping_patience=1)  # fmt: skip
    result = train(cfg, log=lambda m: None)
    vals = [r["val_loss"] for r in read_metrics(result.metrics) if r["kind"] == "eval"]
    expected_stop = next(i for i in range(1, len(vals)) if vals[i] >= min(vals[:i]))
    assert result.stopped_early, f"no early stop; val losses {vals}"
    assert len(vals) == expected_stop + 1, f"stopped after evals {vals}"
    assert result.step == 2 * expected_stop, f"stopped at step {result.step}"
    assert result.best_val_loss == min(vals), "best val loss"
    best = load_checkpoint(result.best_dir)[2]["state"]["step"]
    assert vals[best // 2] == min(vals), f"best/ holds step {best}, val {vals[best // 2]}"


def test_checkpoint_holds_configs_tokenizer_and_optimizer(tiny_run, tmp_path):
    result = train(tiny_run("run", max_iters=4), log=lambda m: None)
    model, tok, manifest = load_checkpoint(result.out_dir)
    assert isinstance(tok, CharTokenizer) and tok.vocab_size == model.config.vocab_size
    assert manifest["train_config"]["max_iters"] == 4 and manifest["state"]["step"] == 4
    assert manifest["model_config"]["d_model"] == 16, "model config"
    rng = np.random.default_rng()
    rng.bit_generator.state = manifest["state"]["rng"]  # a valid numpy generator state
    scalars = manifest["optimizer"]["scalars"]
    assert all(s["step"] == 4 for s in scalars.values()), f"AdamW step counts {scalars}"
    assert not model.training, "load_checkpoint returns the model in eval mode"
    text = json.loads((result.out_dir / "checkpoint.json").read_text())
    assert math.isfinite(text["state"]["run"]["best_val_loss"]), "best val loss recorded"
