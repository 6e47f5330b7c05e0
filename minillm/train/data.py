"""The data a run trains on, by the model's task: next-token windows of a text (causal_lm), the
digit-reversal pairs (seq2seq), or BERT's masked-LM + next-sentence pairs (masked_lm). Each gives
(tokenizer, data) where data has the Corpus interface
`get_batch(split, batch_size, block_size, rng) -> (inputs, targets)`."""

from ..data import (
    BPETokenizer,
    CharTokenizer,
    Corpus,
    DigitTokenizer,
    load_text,
    train_val_split,
)
from ..models import ReversalTask
from ..models.bert_task import prepare_masked_lm
from .config import TrainConfig


def prepare_data(cfg: TrainConfig, tokenizer=None):
    """(tokenizer, Corpus) of cfg.dataset: the text cut train/val, then encoded. A char
    vocabulary comes from the whole text (nanoGPT's prepare.py), a BPE from the train part."""
    text = load_text(cfg.dataset)
    train_text, val_text = train_val_split(text, cfg.train_fraction)
    if tokenizer is None and cfg.tokenizer == "char":
        tokenizer = CharTokenizer.from_text(text)
    elif tokenizer is None:
        tokenizer = BPETokenizer().train(train_text, cfg.bpe_vocab_size)
    return tokenizer, Corpus(tokenizer.encode(train_text), tokenizer.encode(val_text))


def prepare_reversal(cfg: TrainConfig, tokenizer=None):
    """(DigitTokenizer, ReversalTask) for a seq2seq model: write digit strings backwards (C13);
    the task has the Corpus interface (get_batch), its "val" split the held-out strings."""
    if cfg.dataset != "reversal":
        raise ValueError(
            f"train: a seq2seq model trains on --dataset=reversal (the digit-reversal task), got "
            f"dataset={cfg.dataset!r}"
        )
    return tokenizer or DigitTokenizer(), ReversalTask(seed=cfg.seed)


def prepare_pretraining(cfg: TrainConfig, tokenizer=None):
    """(WordPieceTokenizer, PretrainingTask) for a masked_lm model (BERT): a WordPiece of
    bpe_vocab_size tokens (the run's subword vocabulary size) fitted to the corpus's training
    part, and masked-LM + next-sentence pairs of block_size tokens (models/bert_task.py)."""
    return prepare_masked_lm(cfg.dataset, cfg.bpe_vocab_size, cfg.train_fraction, tokenizer)


# a model's task -> the function that gives (tokenizer, data with get_batch(split, B, T, rng))
TASK_DATA = {
    "causal_lm": prepare_data,
    "seq2seq": prepare_reversal,
    "masked_lm": prepare_pretraining,
}
