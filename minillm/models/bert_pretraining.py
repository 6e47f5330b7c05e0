"""BERT pre-training (C12): the encoder with its masked-LM and next-sentence heads, the model the
registry trains as "bert" (task "masked_lm").

F6, masked LM. The source writes l_MLM = -sum_i log p(x_i | x_<i); that is the causal-LM loss
(the GPT's, F9: each token from the tokens before it). The masked-LM loss is

    l_MLM = -(1/|M|) sum_{i in M} log p(x_i | x_\\M)

over the masked set M only (15 % of the non-special tokens; of those 80 % became [MASK], 10 % a
random token, 10 % stayed: minillm.data.mask_tokens), each predicted from the whole corrupted
sequence, both sides. Positions outside M add nothing, whatever the logits there.
F7, next-sentence prediction. The source's formula is garbled; NSP is a cross-entropy on two
classes, IsNext (0) / NotNext (1), predicted from the pooled [CLS] vector:

    l_NSP = -(1/B) sum_b log p(y_b | [CLS] A_b [SEP] B_b [SEP])

The model minimises l_MLM + l_NSP (Devlin et al. 2019, as Hugging Face's BertForPreTraining).

How it fits the registry's `forward(*inputs, targets) -> (logits, loss)`: the inputs are
(input_ids, attention_mask, token_type_ids), and `targets` is one (B, T) int array in BERT's own
layout: targets[:, 1:] the masked-LM labels (-100 outside M) and targets[:, 0], the [CLS]
slot, the next-sentence label. [CLS] is never masked, so its masked-LM label is always -100 and
the column is free; the sentence-level target sits where the sentence-level prediction is read.
`pack_targets` / `unpack_targets` convert. So the training loop, checkpoints and the data's
`get_batch -> (inputs, targets)` work unchanged, and `targets.size` counts the tokens of a batch.
"""

from typing import NamedTuple

import numpy as np

from ..nn import Module
from ..nn import init as _init
from ..tensor import Tensor, no_grad
from ..tensor.backend import array_module
from .bert import BERT, INIT_STD, BertConfig
from .bert_heads import IGNORE_INDEX, MaskedLMHead, NextSentenceHead, mean_cross_entropy


class PretrainingOutput(NamedTuple):
    """What BertForPreTraining returns as its "logits".

    mlm_logits: (B, T, V) without targets; with targets (M, V) at the M masked positions only,
    in row-major order (the order of labels[labels != -100]): the V-way decoder is the costliest
    matmul of the model, and positions outside M feed no loss.
    nsp_logits: (B, 2). mlm_loss, nsp_loss: the two terms (Tensors; None without targets)."""

    mlm_logits: Tensor
    nsp_logits: Tensor
    mlm_loss: Tensor | None = None
    nsp_loss: Tensor | None = None


def pack_targets(mlm_labels, next_sentence_label) -> np.ndarray:
    """(B, T) masked-LM labels and (B,) next-sentence labels -> one (B, T) targets array, the
    next-sentence label in the [CLS] column 0 (see the module docstring)."""
    mlm = np.array(mlm_labels, dtype=np.int64)  # a copy: column 0 is overwritten
    nsp = np.asarray(next_sentence_label, dtype=np.int64)
    if mlm.ndim != 2 or nsp.shape != mlm.shape[:1]:
        raise ValueError(
            f"pack_targets: expected mlm_labels (B, T) and next_sentence_label (B,), got "
            f"{mlm.shape} and {nsp.shape}"
        )
    if (mlm[:, 0] != IGNORE_INDEX).any():
        raise ValueError("pack_targets: mlm_labels[:, 0] must be -100 ([CLS] is never masked)")
    mlm[:, 0] = nsp
    return mlm


def unpack_targets(targets):
    """The inverse of pack_targets: (mlm_labels (B, T), next_sentence_label (B,))."""
    xp = array_module(targets)
    t = xp.asarray(targets)
    mlm = t.copy()
    mlm[:, 0] = IGNORE_INDEX
    return mlm, t[:, 0]


class BertForPreTraining(Module):
    """BertForPreTraining(config, seed=0): `bert` (the encoder, models/bert.py), `mlm` (masked-LM
    head, decoder tied to bert.wte) and `nsp` (next-sentence head), Hugging Face's layout.

    forward(input_ids, attention_mask=None, token_type_ids=None, targets=None)
        -> (PretrainingOutput, loss): loss = l_MLM + l_NSP (F6 + F7), None without targets.
    The encoder draws its weights exactly as BERT(config, seed) does; the heads draw theirs
    (N(0, 0.02), decoder bias 0) from default_rng([seed, 3])."""

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.bert = BERT(config, seed)
        rng = np.random.default_rng([seed, 3])
        self.mlm = MaskedLMHead(config.d_model, self.bert.wte, config.eps, rng)
        self.nsp = NextSentenceHead(config.d_model, rng)
        for head in (self.mlm, self.nsp):
            _init.init_normal_(head, rng, INIT_STD)

    @property
    def context_length(self) -> int:
        return self.config.block_size

    def init_mlm_bias(self, counts) -> None:
        """Set the masked-LM decoder's bias to the log unigram frequencies of the training tokens,
        b_v = log((n_v + 1) / sum_u (n_u + 1)) minus their mean ((V,) counts n, add-one smoothed):
        at step 0 the model already predicts the prior (the loss starts at the unigram entropy).

        Why: with a zero bias, the quickest way down from log V to the unigram loss is to turn
        every hidden state into one shared vector whose scores against the tied embedding are the
        log frequencies (the bias moves at most lr per Adam step; all the encoder's weights move
        together). The states then collapse: on the 240-step bert-small run every position's
        final state had cosine 1.0 with every other, [CLS] did not depend on the input (NSP at
        chance, a fine-tuned classifier starting from a constant), and masked-LM stayed at the
        unigram loss. With the prior in the bias the states stay apart (cosine ~0.07).
        Deviation: Google's BERT starts the bias at 0 (its 1M steps leave the plateau anyway)."""
        counts = np.asarray(counts, dtype=np.float64)
        if counts.shape != (self.config.vocab_size,) or (counts < 0).any():
            raise ValueError(
                f"init_mlm_bias: counts must be (V,) = ({self.config.vocab_size},) numbers >= 0, "
                f"got shape {counts.shape}"
            )
        log_p = np.log((counts + 1.0) / (counts + 1.0).sum())  # (V,)
        b = self.mlm.decoder.b
        b.data[...] = array_module(b.data).asarray(log_p - log_p.mean(), dtype=b.data.dtype)

    def init_from_data(self, data) -> None:
        """What a fresh training run does once its data is ready (minillm.train): the decoder's
        bias from the training text's token counts (init_mlm_bias)."""
        self.init_mlm_bias(data.token_counts(self.config.vocab_size))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, targets=None):
        h = self.bert(input_ids, attention_mask, token_type_ids)  # (B, T, C)
        nsp_logits = self.nsp(self.bert.pool(h))  # (B, 2)
        if targets is None:
            return PretrainingOutput(self.mlm(h), nsp_logits), None  # (B, T, V), (B, 2)
        B, T = h.shape[:2]
        xp = array_module(h.data)
        t = xp.asarray(targets.data if isinstance(targets, Tensor) else targets)
        if t.shape != (B, T):
            raise ValueError(
                f"BertForPreTraining: targets shape {t.shape} != input_ids shape {(B, T)}; "
                "build them with pack_targets(mlm_labels, next_sentence_label)"
            )
        mlm_labels, nsp_labels = unpack_targets(t)  # (B, T), (B,)
        rows, cols = xp.nonzero(mlm_labels != IGNORE_INDEX)  # the masked set M, row-major
        mlm_logits = self.mlm(h[rows, cols])  # (M, C) -> (M, V)
        mlm_loss = mean_cross_entropy(mlm_logits, mlm_labels[rows, cols])  # F6
        nsp_loss = mean_cross_entropy(nsp_logits, nsp_labels)  # F7
        out = PretrainingOutput(mlm_logits, nsp_logits, mlm_loss, nsp_loss)
        return out, mlm_loss + nsp_loss

    def batch_metrics(self, output: PretrainingOutput, targets) -> dict:
        """Accuracies and the two loss terms of one batch, from forward's output with targets:
        {"mlm_loss", "nsp_loss", "mlm_acc" (argmax = original token, over M), "nsp_acc"}
        (the training loop's evaluation averages them over its batches)."""
        with no_grad():
            mlm_labels, nsp_labels = unpack_targets(_host(targets))
            y_mlm = mlm_labels[mlm_labels != IGNORE_INDEX]  # (M,), the order of mlm_logits
            pred_mlm = _host(output.mlm_logits.data).argmax(axis=-1)  # (M,)
            pred_nsp = _host(output.nsp_logits.data).argmax(axis=-1)  # (B,)
            has_nsp = nsp_labels != IGNORE_INDEX
            return {
                "mlm_loss": output.mlm_loss.item(),
                "nsp_loss": output.nsp_loss.item(),
                "mlm_acc": float((pred_mlm == y_mlm).mean()) if len(y_mlm) else 0.0,
                "nsp_acc": float((pred_nsp == nsp_labels)[has_nsp].mean())
                if has_nsp.any()
                else 0.0,
            }

    def extra_repr(self):
        return "heads: mlm (tied to bert.wte), nsp"


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)
