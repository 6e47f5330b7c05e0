"""/v1/embed and /v1/classify for BERT-family models, against a running server: the real
all-MiniLM-L6-v2 gives what sentence_embeddings gives, a sequence classifier saved as a checkpoint
gives its softmax; each endpoint is 501 where the model cannot do it."""

import numpy as np
import pytest
from serve_util import running

from minillm.data import WordPieceTokenizer
from minillm.generate import softmax
from minillm.models import (
    BertClassifierConfig,
    BertForSequenceClassification,
    load_pretrained,
    save_checkpoint,
    sentence_embeddings,
)
from minillm.serve import ServeConfig, app_from_checkpoint, create_app
from minillm.tensor import no_grad

TEXTS = ["to be, or not to be", "that is the question", "whether tis nobler in the mind"]


def test_C5_embed_serves_minilm_as_sentence_embeddings():
    model, tokenizer = load_pretrained("all-MiniLM-L6-v2")
    expected = sentence_embeddings(model, tokenizer, TEXTS)  # (3, 384)
    with running(create_app(model, tokenizer, ServeConfig(), {"pretrained": "MiniLM"})) as client:
        out = client.post("/v1/embed", json={"input": TEXTS})
        one = client.post("/v1/embed", json={"input": TEXTS[1]})
        info = client.get("/v1/model").json()
        generate = client.post("/v1/generate", json={"prompt": "hello"})
        classify = client.post("/v1/classify", json={"input": "hello"})
    assert out.status_code == 200, out.text
    got = np.array(out.json()["embeddings"])
    assert out.json()["dimensions"] == 384 and got.shape == (3, 384)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(one.json()["embeddings"][0], expected[1], rtol=0, atol=1e-6)
    assert info["context_length"] == 512 and info["vocabulary"]["size"] == 30522
    assert info["endpoints"] == ["/v1/embed"] and info["parameters"] > 22_000_000
    for r in (generate, classify):
        assert r.status_code == 501 and "not available for this checkpoint's model" in r.text


@pytest.fixture(scope="module")
def classifier_checkpoint(tmp_path_factory):
    tokenizer = WordPieceTokenizer().train(" ".join(TEXTS * 3), 60)
    config = BertClassifierConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layers=2,
                                  n_heads=2, d_model=16, d_ff=32, n_classes=3)  # fmt: skip
    model = BertForSequenceClassification(config, seed=1)
    folder = tmp_path_factory.mktemp("serve") / "classifier"
    save_checkpoint(folder, model, tokenizer, {"note": "tests/serve"})
    return folder, model.eval(), tokenizer


def test_C5_classify_serves_a_sequence_classifier_checkpoint(classifier_checkpoint):
    folder, model, tokenizer = classifier_checkpoint
    batch = tokenizer.encode_batch(TEXTS)
    with no_grad():
        logits, _ = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    expected = softmax(logits.data)  # (3, 3)
    with running(app_from_checkpoint(folder, ServeConfig(max_prompt_chars=100))) as client:
        out = client.post("/v1/classify", json={"input": TEXTS})
        info = client.get("/v1/model").json()
        embed = client.post("/v1/embed", json={"input": TEXTS[0]})
        too_long = client.post("/v1/classify", json={"input": ["x" * 101]})
        generate = client.post("/v1/generate", json={"prompt": "to be"})
    assert out.status_code == 200, out.text
    predictions = out.json()["predictions"]
    np.testing.assert_allclose([p["scores"] for p in predictions], expected, atol=1e-6)
    assert [p["label"] for p in predictions] == expected.argmax(axis=1).tolist()
    assert info["task"] == "sequence_classification" and info["architecture"]["n_classes"] == 3
    assert info["endpoints"] == ["/v1/embed", "/v1/classify"] and embed.status_code == 200
    assert too_long.status_code == 413 and too_long.json()["detail"][0]["ctx"] == {"limit": 100}
    assert generate.status_code == 501
