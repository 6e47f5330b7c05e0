"""Where a fine-tuning run's encoder comes from: a minillm checkpoint of a BERT (the pre-training
run's out_dir, or an earlier fine-tuning run's), or a Hugging Face BERT folder or name
("all-MiniLM-L6-v2"), with its tokenizer; and the same encoder with another dropout rate, or
with fresh random weights (the baseline that shows what pre-training brings)."""

import dataclasses
from pathlib import Path

from ..data import WordPieceTokenizer
from ..models import BERT, load_checkpoint, load_pretrained
from ..models.checkpoint import MANIFEST
from ..models.pretrained import MINILM_NAMES


def load_encoder(source):
    """(encoder BERT, tokenizer, description) from a checkpoint folder or a pre-trained name /
    folder. FileNotFoundError naming a missing file, ValueError for a model that is not a BERT."""
    folder = Path(source)
    if str(source) in MINILM_NAMES or (
        folder.is_dir() and not (folder / MANIFEST).exists() and (folder / "config.json").exists()
    ):
        encoder, tokenizer = load_pretrained(source)
        return encoder, tokenizer, f"pre-trained {source}"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"--checkpoint {str(source)!r}: no such folder (a `minillm train --model=bert` "
            f"out_dir, a Hugging Face BERT folder, or one of {', '.join(MINILM_NAMES)})"
        )
    model, tokenizer, manifest = load_checkpoint(folder)
    encoder = getattr(model, "bert", model)
    if not isinstance(encoder, BERT):
        raise ValueError(
            f"--checkpoint {str(source)!r} holds a {manifest['model']} model; fine-tuning here "
            "needs a BERT (minillm train --model=bert)"
        )
    if not isinstance(tokenizer, WordPieceTokenizer):
        raise ValueError(f"--checkpoint {str(source)!r}: its tokenizer is not a WordPiece")
    step = manifest.get("state", {}).get("step", "?")
    return encoder, tokenizer, f"{manifest['model']} checkpoint {folder} (step {step})"


def with_dropout(encoder: BERT, dropout) -> BERT:
    """The encoder with another dropout rate (the same weights), or itself when it already has
    that rate or dropout is None."""
    if dropout is None or dropout == encoder.config.dropout:
        return encoder
    config = dataclasses.replace(encoder.config, dropout=dropout)
    fresh = BERT(config)
    fresh.load_state_dict(encoder.state_dict())
    for name in ("max_seq_length", "load_report"):
        if name in encoder.__dict__:
            setattr(fresh, name, encoder.__dict__[name])
    return fresh.to(encoder.wte.W.dtype)


def random_encoder(encoder: BERT, seed: int = 0) -> BERT:
    """A BERT of the same shape with freshly drawn weights (BERT's init), for the comparison
    with no pre-training."""
    return BERT(encoder.config, seed).to(encoder.wte.W.dtype)
