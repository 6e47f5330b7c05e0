"""Models built from minillm.nn, one registry entry each (registry.py), with checkpoint I/O.

Every model takes token ids and returns (logits, loss); `build_model("gpt", config)` and
`load_checkpoint(folder)` work for any registered model. The real all-MiniLM-L6-v2:
`model, tok = load_pretrained("all-MiniLM-L6-v2")`, `sentence_embeddings(model, tok, texts)`.
"""

from . import bert_names, gpt_names
from .bert import BERT, BertConfig
from .bert_classifiers import (
    BertClassifierConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from .bert_pretraining import BertForPreTraining, PretrainingOutput, pack_targets
from .checkpoint import (
    build_from_manifest,
    load_checkpoint,
    load_optimizer,
    load_weights,
    read_manifest,
    save_checkpoint,
)
from .config import ModelConfig
from .gpt import GPT, GPTConfig
from .pretrained import load_pretrained, sentence_embeddings
from .registry import MODELS, ModelSpec, build_model, get_spec, register, spec_of
from .rnnlm import RNNLM, RNNLMConfig, RNNState
from .seq2seq import Seq2SeqConfig, Seq2SeqTransformer
from .seq2seq_task import ReversalTask

__all__ = [
    "BERT",
    "BertClassifierConfig",
    "BertConfig",
    "BertForPreTraining",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "PretrainingOutput",
    "bert_names",
    "load_pretrained",
    "pack_targets",
    "sentence_embeddings",
    "GPT",
    "GPTConfig",
    "MODELS",
    "ModelConfig",
    "ModelSpec",
    "RNNLM",
    "RNNLMConfig",
    "RNNState",
    "ReversalTask",
    "Seq2SeqConfig",
    "Seq2SeqTransformer",
    "build_from_manifest",
    "build_model",
    "get_spec",
    "gpt_names",
    "load_checkpoint",
    "load_optimizer",
    "load_weights",
    "read_manifest",
    "register",
    "save_checkpoint",
    "spec_of",
]
