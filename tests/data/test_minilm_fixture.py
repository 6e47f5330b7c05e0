"""tests/fixtures/minilm.npz holds together: the keys its script's docstring lists, the shapes,
and sentence-transformers' embeddings equal to the masked mean of the stored hidden states,
L2-normalised (what minillm's BERT port will be held to). NumPy only: runs without the package."""

import json
from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "minilm.npz"


@pytest.fixture(scope="module")
def z():
    return np.load(FIXTURE)


def test_fixture_is_small_and_records_its_versions(z):
    assert FIXTURE.stat().st_size < 2_000_000
    meta = json.loads(bytes(z["meta_json"]))
    assert {"transformers", "tokenizers", "sentence_transformers", "torch"} <= meta.keys()
    assert len(json.loads(bytes(z["tok/texts_json"]))) >= 30


def test_embedding_batches_have_consistent_shapes(z):
    n_hidden = 0
    for k in range(4):
        ids = z[f"emb/b{k}/input_ids"]
        B, T = ids.shape
        assert len(json.loads(bytes(z[f"emb/b{k}/texts_json"]))) == B
        assert z[f"emb/b{k}/attention_mask"].shape == z[f"emb/b{k}/token_type_ids"].shape == (B, T)
        assert z[f"emb/b{k}/embeddings"].shape == (B, 384)
        assert z[f"emb/b{k}/embeddings"].dtype == np.float32
        if f"emb/b{k}/hidden" in z.files:
            assert z[f"emb/b{k}/hidden"].shape == (B, T, 384)
            n_hidden += B
    assert n_hidden >= 20
    assert z["emb/b3/input_ids"].shape[1] == 256  # sentence-transformers' max_seq_length


@pytest.mark.parametrize("k", range(3))
def test_embeddings_are_the_masked_mean_of_hidden_states_l2_normalised(z, k):
    h = z[f"emb/b{k}/hidden"].astype(np.float64)  # (B, T, C)
    m = z[f"emb/b{k}/attention_mask"].astype(np.float64)[:, :, None]  # (B, T, 1)
    mean = (h * m).sum(axis=1) / m.sum(axis=1)  # (B, C)
    e = mean / np.linalg.norm(mean, axis=1, keepdims=True)  # (B, C)
    np.testing.assert_allclose(e, z[f"emb/b{k}/embeddings"], atol=1e-6, err_msg=f"batch {k}")
    assert (m.sum(axis=1) < h.shape[1]).any()  # padded batches: some rows are shorter
