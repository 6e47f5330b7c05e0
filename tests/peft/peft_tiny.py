"""Tiny models of both families for the fine-tuning tests (ragged sizes; float64 where two
computations of one function are compared)."""

import numpy as np

from minillm.models import GPT, BertConfig, BertForPreTraining, GPTConfig

TEXT = "to be or not to be, that is the question:\nwhether 'tis nobler in the mind to suffer\n"
GPT_TINY = dict(block_size=16, n_layers=2, n_heads=2, d_model=12, bias=True)
BERT_TINY = dict(block_size=24, n_layers=2, n_heads=2, d_model=10, d_ff=14, dropout=0.0)


def tiny_gpt(tok, seed=1, dtype=np.float64, **changes) -> GPT:
    return GPT(GPTConfig(vocab_size=tok.vocab_size, **{**GPT_TINY, **changes}), seed).to(dtype)


def tiny_bert(tok, seed=1, dtype=np.float64, **changes) -> BertForPreTraining:
    config = BertConfig(vocab_size=tok.vocab_size, **{**BERT_TINY, **changes})
    return BertForPreTraining(config, seed).to(dtype)
