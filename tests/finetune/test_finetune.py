"""Fine-tuning (F8, F10, F11, C21): the two classifiers' losses by hand, the two tasks' encoding
(sequence vs token classification), the loop, the methods table, the bag-of-words baseline and
`minillm finetune` end to end with its bad-input errors. Tiny models, a few dozen examples."""

import json

import numpy as np
import pytest

from minillm import cli
from minillm.data import WordPieceTokenizer, load_text
from minillm.finetune import (
    METHODS,
    BagOfWords,
    FinetuneConfig,
    PersonTagging,
    PlayClassification,
    bag_of_words_baseline,
    finetune,
    get_method,
    load_encoder,
    random_encoder,
    register_method,
    with_dropout,
)
from minillm.finetune.tasks import word_chunks
from minillm.models import (
    GPT,
    BertConfig,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    GPTConfig,
    load_checkpoint,
    save_checkpoint,
)
from minillm.models.bert import BERT

SMALL = dict(block_size=32, n_layers=1, n_heads=2, d_model=16, d_ff=24, dropout=0.0)


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer().train(load_text("shakespeare")[:60_000], 300)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tok):
    """A tiny pre-training checkpoint (untrained weights: the tests check plumbing, not skill)."""
    folder = tmp_path_factory.mktemp("bert")
    model = BertForPreTraining(BertConfig(vocab_size=tok.vocab_size, **SMALL), seed=1)
    save_checkpoint(folder, model, tok, {"note": "tiny"})
    return folder


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def encoder(tok, dtype=np.float64):
    return BERT(BertConfig(vocab_size=tok.vocab_size, **SMALL), seed=2).to(dtype)


def test_F8_sequence_classification_loss_is_cross_entropy_on_the_pooled_cls_vector(tok):
    model = BertForSequenceClassification.from_encoder(encoder(tok), 5, seed=0).double()
    batch = tok.encode_batch(["to be or not to be", "the rest is silence, my lord"])
    x = (batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    y = np.array([3, 1])
    logits, loss = model(*x, y)
    assert logits.shape == (2, 5)
    pooled = model.bert.pool(model.bert(*x)).data  # (B, C)
    z = pooled @ model.head.classifier.W.data + model.head.classifier.b.data  # (B, 5)
    np.testing.assert_allclose(logits.data, z, rtol=1e-12)
    np.testing.assert_allclose(loss.item(), -log_softmax(z)[[0, 1], y].mean(), rtol=1e-12)


def test_token_classification_loss_leaves_out_positions_labelled_minus_100(tok):
    model = BertForTokenClassification.from_encoder(encoder(tok), 3, seed=0).double()
    ids = tok.encode_batch(["romeo and juliet"])["input_ids"]  # (1, T)
    y = np.full(ids.shape, -100)
    y[0, 1], y[0, 3] = 1, 0
    logits, loss = model(ids, targets=y)
    assert logits.shape == (1, ids.shape[1], 3)
    logp = log_softmax(logits.data[0])
    np.testing.assert_allclose(loss.item(), -(logp[1, 1] + logp[3, 0]) / 2, rtol=1e-12)


def test_a_label_outside_the_classes_is_a_one_line_error(tok):
    model = BertForSequenceClassification.from_encoder(encoder(tok, np.float32), 8)
    ids = tok.encode_batch(["a", "b"])["input_ids"]
    with pytest.raises(ValueError, match=r"label 9 is outside the classes \[0, 8\)"):
        model(ids, targets=np.array([0, 9]))
    with pytest.raises(ValueError, match=r"targets must be \(B,\) = \(2,\)"):
        model(ids, targets=np.array([0, 1, 2]))


def test_play_task_is_sequence_classification_cls_text_sep_cut_at_max_len(tok):
    task = PlayClassification(tok, max_len=20, max_train=10)
    assert task.kind == "sequence_classification" and len(task.labels) == 8
    assert task.size("train") == 10 and task.size("test") == 177
    for ids, label in task.examples["test"]:
        assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id and len(ids) <= 20
        assert 0 <= label < 8
    (ids, mask, types), y = task.batch("train", [0, 1, 2])
    assert ids.shape == mask.shape == types.shape and y.shape == (3,)


def test_max_train_and_max_eval_keep_every_play_in_proportion_not_the_first_texts(tok):
    """The splits are in corpus order (play after play): the first 40 texts would all be play
    0's, a one-class task that no model can learn to tell plays apart on."""
    full = PlayClassification(tok, max_len=8)
    task = PlayClassification(tok, max_len=8, max_train=40, max_eval=24)
    assert task.size("train") == 40 and task.size("val") == task.size("test") == 24
    for split, cap in (("train", 40), ("val", 24), ("test", 24)):
        whole = np.bincount(full.data[split]["label"], minlength=8)  # (8,)
        kept = np.bincount(task.data[split]["label"], minlength=8)  # (8,)
        assert (kept > 0).all(), f"{split}: a play is missing: {kept}"
        assert np.abs(kept - cap * whole / whole.sum()).max() < 1 + 1e-9, (split, kept, whole)
        lines = task.data[split]["line"]
        assert np.all(np.diff(lines) > 0) and np.isin(lines, full.data[split]["line"]).all()
    labels = [y for _, y in task.examples["train"]]
    assert np.array_equal(labels, task.data["train"]["label"])
    again = PlayClassification(tok, max_len=8, max_train=40, max_eval=24)
    assert np.array_equal(again.data["train"]["line"], task.data["train"]["line"])  # seeded
    tagging = PersonTagging(tok, max_len=16, max_train=40, max_eval=8)
    assert len(np.unique(tagging.data["train"]["play"])) == 8
    assert len(tagging.data["test"]["tokens"]) == 8


def test_word_chunks_cover_every_word_once_within_the_budget():
    chunks = word_chunks([2, 3, 1, 4, 1], 5)
    assert chunks == [(0, 2), (2, 4), (4, 5)]  # 2+3, 1+4, 1
    assert word_chunks([7], 5) == [(0, 1)] and word_chunks([], 5) == [(0, 0)]


def test_person_task_is_token_classification_tags_on_first_pieces(tok):
    words = ["Romeo", "wherefore", "art", "thou", "Romeo", "Montague"]
    tags = np.array([1, 0, 0, 0, 1, 2])
    split = {"tokens": [words], "tags": [tags], "play": np.array([0]), "line": np.array([1])}
    data = {"tag_names": ["O", "B-PER", "I-PER"], "names": [], "train": split, "val": split,
            "test": split}  # fmt: skip
    pieces = [len(tok.encode(w, add_special_tokens=False)) for w in words]
    task = PersonTagging(tok, max_len=2 + sum(pieces), data=data)
    assert task.kind == "token_classification" and task.size("train") == 1
    ids, targets = task.examples["train"][0]
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    first = np.cumsum([1] + pieces[:-1])  # each word's first piece, after [CLS]
    assert np.array_equal(targets[first], tags)
    assert np.count_nonzero(targets != -100) == len(words)
    short = PersonTagging(tok, max_len=2 + max(pieces) + 1, data=data)  # forces chunking
    assert short.size("train") > 1
    tagged = np.concatenate([w for _, w in short.words["train"]])
    assert np.array_equal(tagged, np.arange(len(words))), "each word tagged exactly once"
    model = short.build_model(encoder(tok, np.float32))
    predicted = short.word_predictions(model, "test")
    assert len(predicted) == 1 and predicted[0].shape == (6,)


def test_F10_F11_finetune_lowers_the_training_loss_and_keeps_the_best_val_epoch(tok):
    task = PlayClassification(tok, max_len=24, max_train=32)
    model = task.build_model(encoder(tok, np.float32), seed=0)
    cfg = FinetuneConfig(lr=3e-3, epochs=3, batch_size=8, max_len=24, dropout=None)
    lines = []
    result = finetune(model, task, cfg, log=lines.append)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0], f"F10: the training loss went {losses}"
    scores = [h["val_score"] for h in result.history]
    assert result.val["score"] == max(scores) == scores[result.best_epoch - 1]
    logits = np.stack(task.logits(result.model, "test"))  # F11: argmax with the tuned weights
    assert np.array_equal(result.test["predicted"], logits.argmax(axis=1))
    assert "32 training examples" in lines[0] and result.parameters["frozen"] == 0


def test_finetune_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"lr must be a number > 0, got 0"):
        FinetuneConfig(lr=0)
    with pytest.raises(ValueError, match=r"epochs must be an int >= 1"):
        FinetuneConfig(epochs=0)


def test_methods_table_is_open_for_new_methods(tok):
    assert list(METHODS) >= ["full"] and get_method("full").options == {}
    with pytest.raises(ValueError, match=r"unknown fine-tuning method 'nope'; methods: full"):
        get_method("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_method("full", lambda m: m, "again")

    def head_only(model, keep="head"):
        model.requires_grad_(False)
        model.get_submodule(keep).requires_grad_(True)
        return model

    register_method("head_test", head_only, "train the head", {"keep": "head"})
    try:
        model = BertForSequenceClassification.from_encoder(encoder(tok, np.float32), 3)
        model = get_method("head_test").apply(model)
        counts = model.parameter_counts()
        assert counts["trainable"] == 16 * 3 + 3
        with pytest.raises(ValueError, match=r"unknown options \['r'\]; its options: keep"):
            get_method("head_test").apply(model, r=4)
    finally:
        del METHODS["head_test"]


def test_bag_of_words_baseline_separates_disjoint_vocabularies():
    rng = np.random.default_rng(0)
    words = [["sword", "blood", "king", "night"], ["love", "rose", "kiss", "moon"]]

    def split(n):
        labels = rng.integers(0, 2, n)
        texts = [" ".join(rng.choice(words[c], 5)) for c in labels]
        return {"text": texts, "label": labels}

    data = {"classes": ["war", "love"], "train": split(40), "val": split(10), "test": split(10)}
    out = bag_of_words_baseline(data)
    assert out["test"]["accuracy"] == 1.0 and out["n_features"] == 8
    bow = BagOfWords().fit(data["train"]["text"])
    X = bow.transform(data["test"]["text"])
    W = rng.normal(size=(8, 3))
    np.testing.assert_allclose(X.dot(W), X.dense() @ W)
    G = rng.normal(size=(10, 3))
    np.testing.assert_allclose(X.tdot(G), X.dense().T @ G)
    np.testing.assert_allclose(np.linalg.norm(X.dense(), axis=1), 1.0)


def test_encoders_from_a_checkpoint_with_dropout_or_at_random(pretrained):
    enc, tok, source = load_encoder(pretrained)
    assert isinstance(enc, BERT) and "bert checkpoint" in source and tok.vocab_size > 5
    enc2 = with_dropout(enc, 0.1)
    assert enc2.config.dropout == 0.1 and enc.config.dropout == 0.0
    assert all(np.array_equal(enc2.state_dict()[k], v) for k, v in enc.state_dict().items())
    fresh = random_encoder(enc, seed=7)
    assert fresh.config == enc.config
    assert not np.array_equal(fresh.wte.W.data, enc.wte.W.data)


def test_cli_finetunes_and_writes_checkpoint_reports_and_confusion_matrix(pretrained, tmp_path,
                                                                          capsys):  # fmt: skip
    out = tmp_path / "play"
    args = ["finetune", f"--checkpoint={pretrained}", "--task=play", f"--out_dir={out}",
            "--epochs=1", "--max_train=16", "--max_len=24", "--batch_size=8"]  # fmt: skip
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "macro avg" in printed and "weighted avg" in printed and "Hamlet" in printed
    for name in ("report.txt", "report.json", "confusion_matrix.png", "metrics.jsonl"):
        assert (out / name).is_file(), name
    model, _, manifest = load_checkpoint(out)
    assert isinstance(model, BertForSequenceClassification) and manifest["model"] == "bert_seq_cls"
    report = json.loads((out / "report.json").read_text())
    assert (
        report["test"]["report"]["support"] == 177 and report["kind"] == "sequence_classification"
    )
    assert cli.main(args) == 2  # out_dir now holds a run
    assert "--overwrite" in capsys.readouterr().err


def test_cli_token_classification_reports_entities_and_tags(pretrained, tmp_path, capsys):
    out = tmp_path / "persons"
    args = ["finetune", f"--checkpoint={pretrained}", "--task=persons", f"--out_dir={out}",
            "--epochs=1", "--max_train=16", "--max_len=24", "--batch_size=8"]  # fmt: skip
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "B-PER" in printed and "entities (exact spans)" in printed
    model, _, manifest = load_checkpoint(out)
    assert isinstance(model, BertForTokenClassification) and model.config.n_classes == 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method=nope"], "unknown fine-tuning method 'nope'; methods: full"),
        (["--lora_r=8"], "unknown option --lora_r for --method=full"),
        (["--lr=0"], "lr must be a number > 0"),
        (["--task=plays"], "invalid choice: 'plays'"),
    ],
)
def test_cli_bad_arguments_are_one_line_errors(pretrained, tmp_path, capsys, extra, message):
    args = ["finetune", f"--checkpoint={pretrained}", f"--out_dir={tmp_path / 'o'}", *extra]
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_checkpoint_folder_missing_a_file_or_holding_a_gpt(pretrained, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in pretrained.iterdir():
        if not f.name.startswith("model-"):
            (broken / f.name).write_bytes(f.read_bytes())
    args = ["finetune", f"--checkpoint={broken}", f"--out_dir={tmp_path / 'o1'}"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "model-" in err and "is missing" in err and len(err.strip().splitlines()) == 1
    gpt = tmp_path / "gpt"
    save_checkpoint(gpt, GPT(GPTConfig(vocab_size=10, block_size=8, n_layers=1, d_model=8,
                                       n_heads=2)), None, {})  # fmt: skip
    assert cli.main(["finetune", f"--checkpoint={gpt}", f"--out_dir={tmp_path / 'o2'}"]) == 2
    assert "holds a gpt model; fine-tuning here needs a BERT" in capsys.readouterr().err
    assert cli.main(["finetune", "--checkpoint=/nowhere", f"--out_dir={tmp_path / 'o3'}"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_finetune_overwrite_takes_true_like_train():
    """--overwrite and --overwrite=true replace, --overwrite=false does not (as train spells it)."""
    from minillm.cli.finetune_cmd import _parser

    p = _parser()
    base = ["--checkpoint", "x", "--out_dir", "y"]
    assert p.parse_args([*base, "--overwrite"]).overwrite is True
    assert p.parse_args([*base, "--overwrite=true"]).overwrite is True
    assert p.parse_args([*base, "--overwrite=false"]).overwrite is False
    assert p.parse_args(base).overwrite is False
