"""The real pre-trained BERT: all-MiniLM-L6-v2 (or any Hugging Face BERT folder) loaded into
minillm's BERT, and sentence embeddings computed as sentence-transformers computes them.

    model, tok = load_pretrained("all-MiniLM-L6-v2")      # or a folder with config.json,
    E = sentence_embeddings(model, tok, sentences)        # vocab.txt, model.safetensors
    E @ E.T                                               # cosine similarities (N, N)

The weights arrive under Hugging Face's names and layouts; bert_names.py maps them onto ours,
every shape is checked, and what is left over is reported (`model.load_report`).
"""

import json
import warnings
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from ..data import WordPieceTokenizer, minilm_path
from ..tensor import no_grad
from . import bert_names
from .bert import BERT, BertConfig
from .names import compare_with_model

MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
FILES = ("config.json", "vocab.txt", "model.safetensors")
# the config.json keys read into BertConfig (the rest describe training or other architectures)
CONFIG_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "hidden_dropout_prob",
)


def model_folder(name_or_path) -> Path:
    """The folder of a model name we know ("all-MiniLM-L6-v2") or a path; FileNotFoundError
    naming the missing folder or file."""
    if str(name_or_path) in MINILM_NAMES:
        return minilm_path()
    folder = Path(name_or_path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"load_pretrained: {str(name_or_path)!r} is neither a known model name "
            f"({', '.join(MINILM_NAMES)}) nor a folder"
        )
    for name in FILES:
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"load_pretrained: {folder / name} is missing (a BERT folder holds "
                f"{', '.join(FILES)})"
            )
    return folder


def bert_config_from_hf(d: dict) -> BertConfig:
    """A BertConfig from a Hugging Face config.json dict; ValueError for what we do not build
    (another model type, another activation, relative positions)."""
    checks = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
    for key, want in checks.items():
        if d.get(key, want) != want:
            raise ValueError(f"load_pretrained: config.json has {key}={d[key]!r}; need {want!r}")
    missing = [k for k in CONFIG_KEYS if k not in d]
    if missing:
        raise ValueError(f"load_pretrained: config.json lacks {missing}")
    return BertConfig.from_dict({k: d[k] for k in CONFIG_KEYS})


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_pretrained(name_or_path="all-MiniLM-L6-v2", strict: bool = True):
    """(model, tokenizer): a Hugging Face BERT checkpoint as minillm's BERT (eval mode, float32)
    and its WordPiece tokenizer (vocab.txt, lower-casing as tokenizer_config.json says).

    Every minillm parameter must come from the checkpoint with the same shape (ValueError naming
    the mismatches, and with strict=True the missing keys). Keys no row of bert_names uses are
    reported with a warning; `model.load_report` holds {"missing", "unused", "ignored"}.
    `model.max_seq_length` is sentence-transformers' cut (sentence_bert_config.json; else the
    position table), which sentence_embeddings uses."""
    folder = model_folder(name_or_path)
    config = bert_config_from_hf(_read_json(folder / "config.json"))
    model = BERT(config)
    state = load_file(str(folder / "model.safetensors"))
    ours, unused, ignored = bert_names.from_hf(state, config.n_layers, "encoder")
    source = f"checkpoint {str(folder / 'model.safetensors')!r}"
    missing = compare_with_model(model.state_dict(), ours, source)
    if missing and strict:
        raise ValueError(f"{source} lacks {len(missing)} of the model's weights: {missing}")
    if unused:
        warnings.warn(f"load_pretrained: {source} keys left unused: {unused}", stacklevel=2)
    model.load_state_dict(ours, strict=False)
    model.load_report = {"missing": missing, "unused": unused, "ignored": ignored}
    sbert = _read_json(folder / "sentence_bert_config.json")
    model.max_seq_length = min(sbert.get("max_seq_length", config.block_size), config.block_size)
    tok_config = _read_json(folder / "tokenizer_config.json")
    tokenizer = WordPieceTokenizer.from_vocab_file(
        folder / "vocab.txt",
        lowercase=tok_config.get("do_lower_case", True),
        strip_accents=tok_config.get("strip_accents"),
        tokenize_chinese_chars=tok_config.get("tokenize_chinese_chars", True),
    )
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(
            f"load_pretrained: vocab.txt has {tokenizer.vocab_size} tokens but config.json "
            f"says vocab_size={config.vocab_size}"
        )
    return model.eval(), tokenizer


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """e = sum_t m_t h_t / sum_t m_t: the mean of the hidden states over the real tokens.
    hidden (B, T, C), attention_mask (B, T) -> (B, C)."""
    m = attention_mask.astype(hidden.dtype)[:, :, None]  # (B, T, 1)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)  # (B, C)


def sentence_embeddings(model, tokenizer, sentences, batch_size: int = 32, max_len=None):
    """(N, C) sentence embeddings, as sentence-transformers' all-MiniLM-L6-v2 computes them:
    each text encoded ([CLS] ... [SEP], cut at max_len tokens, default model.max_seq_length),
    the final hidden states mean-pooled over its tokens (padding left out), then L2-normalised,
    so e_i . e_j is the cosine similarity. Batches of batch_size texts, in eval mode, no graph;
    the texts are sorted by length first so a batch pads little (the order is restored)."""
    encoder = getattr(model, "bert", model)
    if not isinstance(encoder, BERT):
        raise TypeError(f"sentence_embeddings: expected a BERT, got {type(model).__name__}")
    if isinstance(sentences, str):
        raise TypeError("sentence_embeddings: sentences must be a list of str, not one str")
    sentences = list(sentences)
    max_len = max_len or getattr(encoder, "max_seq_length", encoder.config.block_size)
    lengths = [len(tokenizer.encode(s, max_len=max_len, truncation=True)) for s in sentences]
    order = np.argsort(lengths, kind="stable")  # (N,)
    out = np.zeros((len(sentences), encoder.config.d_model), dtype=encoder.wte.W.dtype)
    was_training = encoder.training
    encoder.eval()
    try:
        with no_grad():
            for start in range(0, len(sentences), batch_size):
                idx = order[start : start + batch_size]
                batch = tokenizer.encode_batch(
                    [sentences[i] for i in idx], max_len=max_len, truncation=True
                )  # (b, T) arrays, padded to the longest
                h = encoder(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
                out[idx] = mean_pool(_host(h.data), batch["attention_mask"])  # (b, C)
    finally:
        encoder.train(was_training)
    return out / np.linalg.norm(out, axis=1, keepdims=True)  # (N, C), unit rows


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)
