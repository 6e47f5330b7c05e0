"""Tiny BERTs and batches for the BERT tests (ragged sizes, float64 where sums are compared)."""

import numpy as np

from minillm.models.bert import BERT, BertConfig
from minillm.models.bert_pretraining import BertForPreTraining, pack_targets

TINY = dict(vocab_size=23, block_size=12, n_layers=2, n_heads=2, d_model=10, d_ff=14, dropout=0.0)


def tiny_config(**changes) -> BertConfig:
    return BertConfig(**{**TINY, **changes})


def tiny_bert(dtype=np.float64, seed=0, **changes) -> BERT:
    return BERT(tiny_config(**changes), seed).to(dtype)


def tiny_pretraining(dtype=np.float64, seed=0, **changes) -> BertForPreTraining:
    return BertForPreTraining(tiny_config(**changes), seed).to(dtype)


def pretraining_batch(B=3, T=9, V=23, seed=1, mask_prob=0.3):
    """((ids, attention_mask, token_type_ids), targets): [CLS]=2 first, ragged lengths (the last
    row padded with 0), a random masked set, next-sentence labels 0/1."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, V, (B, T))
    ids[:, 0] = 2
    mask = np.ones((B, T), dtype=np.int64)
    mask[-1, T - 3 :] = 0
    ids[mask == 0] = 0
    types = np.zeros((B, T), dtype=np.int64)
    types[:, T // 2 :] = 1
    types[mask == 0] = 0
    labels = np.where((rng.random((B, T)) < mask_prob) & (mask == 1), ids, -100)
    labels[:, 0] = -100
    labels[0, 1] = ids[0, 1]  # at least one masked position
    nsp = rng.integers(0, 2, B)
    return (ids, mask, types), pack_targets(labels, nsp), labels, nsp
