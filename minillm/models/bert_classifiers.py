"""BERT fine-tuned for a labelled task: sequence classification and token classification.

Sequence classification (F8, F10, F11): one label per text, read off the pooled [CLS] vector.

    logits = Dropout(pooled) W_c + b                           (B, n_classes)
    l = -(1/B) sum_b log p(y_b | x_b)                           F8 (F10: the fine-tuning loss)
    y_hat = argmax_c logits                                     F11 (inference)

Token classification: one label per token (here BIO tags of person names), read off every
hidden state; positions labelled -100 (special tokens, padding, a word's later WordPiece pieces)
are left out of the loss and of the predictions that count.

    logits = Dropout(h) W_c + b                                (B, T, n_classes)
    l = -(1/|S|) sum_{(b,t) in S} log p(y_bt | x_b)              S = the labelled positions

Both take `BertClassifierConfig` (a BertConfig plus n_classes) and are registered, so a
fine-tuned model saves and loads as a checkpoint like any other.
"""

from dataclasses import dataclass, fields

import numpy as np

from ..nn import Module
from ..nn import init as _init
from ..tensor import Tensor
from ..tensor.backend import array_module
from .bert import BERT, INIT_STD, BertConfig
from .bert_heads import ClassificationHead, check_labels, mean_cross_entropy


@dataclass(frozen=True)
class BertClassifierConfig(BertConfig):
    """A BERT's shape plus the number of classes of its head (Hugging Face's num_labels)."""

    n_classes: int = 2  # classes of the head: plays, or BIO tags

    ALIASES = {**BertConfig.ALIASES, "num_labels": "n_classes"}

    def __post_init__(self):
        super().__post_init__()
        self._check_ints("n_classes")

    @classmethod
    def from_encoder_config(cls, config: BertConfig, n_classes: int):
        """The classifier config of an encoder's config and a number of classes."""
        base = {f.name: getattr(config, f.name) for f in fields(BertConfig)}
        return cls(**base, n_classes=n_classes)


class _BertClassifier(Module):
    """The encoder `bert` and a ClassificationHead `head`; `encoder=` puts a given (pre-trained)
    BERT in place of a freshly drawn one. The head draws from default_rng([seed, 4]):
    N(0, 0.02) weights, zero bias, as Hugging Face's fresh head."""

    def __init__(self, config: BertClassifierConfig, seed: int = 0, encoder: BERT | None = None):
        super().__init__()
        if not isinstance(config, BertClassifierConfig):
            raise TypeError(
                f"{type(self).__name__}: config must be a BertClassifierConfig, got "
                f"{type(config).__name__}"
            )
        self.config = config
        if encoder is None:
            encoder = BERT(config, seed)
        elif not isinstance(encoder, BERT):
            raise TypeError(f"{type(self).__name__}: encoder must be a BERT")
        self.bert = encoder
        rng = np.random.default_rng([seed, 4])
        self.head = ClassificationHead(config.d_model, config.n_classes, config.dropout, rng)
        _init.init_normal_(self.head, rng, INIT_STD)
        self.head.drop.rng = np.random.default_rng([seed, 5])

    @classmethod
    def from_encoder(cls, encoder: BERT, n_classes: int, seed: int = 0):
        """A classifier over a given (pre-trained) encoder, with a fresh n_classes-way head."""
        config = BertClassifierConfig.from_encoder_config(encoder.config, n_classes)
        return cls(config, seed, encoder)

    @property
    def context_length(self) -> int:
        return self.config.block_size

    def _loss(self, logits, targets):
        xp = array_module(logits.data)
        y = check_labels(xp.asarray(targets), self.config.n_classes, type(self).__name__)
        n = self.config.n_classes
        return mean_cross_entropy(logits.reshape(-1, n), y.reshape(-1))


class BertForSequenceClassification(_BertClassifier):
    """forward(input_ids, attention_mask=None, token_type_ids=None, targets=None)
    -> (logits (B, n_classes), loss or None); targets (B,) class ids (F8)."""

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, targets=None):
        h = self.bert(input_ids, attention_mask, token_type_ids)  # (B, T, C)
        logits = self.head(self.bert.pool(h))  # (B, C) -> (B, n_classes)
        if targets is None:
            return logits, None
        t = targets.data if isinstance(targets, Tensor) else targets
        if np.shape(t) != (h.shape[0],):
            raise ValueError(
                f"BertForSequenceClassification: targets must be (B,) = ({h.shape[0]},) class "
                f"ids, got shape {np.shape(t)}"
            )
        return logits, self._loss(logits, t)


class BertForTokenClassification(_BertClassifier):
    """forward(input_ids, attention_mask=None, token_type_ids=None, targets=None)
    -> (logits (B, T, n_classes), loss or None); targets (B, T) tag ids, -100 where a position
    has no label."""

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, targets=None):
        h = self.bert(input_ids, attention_mask, token_type_ids)  # (B, T, C)
        logits = self.head(h)  # (B, T, n_classes)
        if targets is None:
            return logits, None
        t = targets.data if isinstance(targets, Tensor) else targets
        if np.shape(t) != tuple(h.shape[:2]):
            raise ValueError(
                f"BertForTokenClassification: targets must be (B, T) = {tuple(h.shape[:2])} tag "
                f"ids, got shape {np.shape(t)}"
            )
        return logits, self._loss(logits, t)
