"""The model registry: one entry per model, used by training, checkpoints, generation, evaluation
and the command line, so a new model is one `register(...)` line, not an `if` in five places.

The protocol a registered model follows:
- `Model(config, seed=0)`, with `config` a frozen dataclass (models/config.py: `to_dict()`,
  `Config.from_dict(d)`) kept as `model.config`;
- `forward(*inputs, targets=None, ...) -> (logits, loss)`, loss None without targets;
- `context_length`: the longest input it takes (None: any);
- optional incremental decoding: `new_caches()` returns the state that `forward(idx,
  caches=...)` reads and extends (a KV cache per block, or an RNN's hidden state).
The `task` says what data trains it and how it is evaluated and sampled:
"causal_lm" (next-token windows of a text), "seq2seq" (source -> target pairs), "masked_lm"
(BERT pre-training: masked-LM + next-sentence pairs), or a fine-tuning task,
"sequence_classification" / "token_classification" (one label per text / per token; trained by
minillm.finetune, saved and loaded like any checkpoint).
"""

from dataclasses import dataclass, field

from .bert import BertConfig
from .bert_classifiers import (
    BertClassifierConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from .bert_pretraining import BertForPreTraining
from .gpt import GPT, GPTConfig
from .rnnlm import RNNLM, RNNLMConfig
from .seq2seq import Seq2SeqConfig, Seq2SeqTransformer

TASKS = (
    "causal_lm",
    "seq2seq",
    "masked_lm",
    "sequence_classification",
    "token_classification",
)


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: the model class, its config class, its task, and the config a training
    run starts from before `--model.FIELD=value` overrides (vocabulary sizes come from data)."""

    name: str
    model: type
    config: type
    task: str
    train_defaults: dict = field(default_factory=dict)

    def default_config(self):
        """The config `minillm train --model=NAME` starts from."""
        return self.config(**self.train_defaults)

    def build(self, config, seed: int = 0):
        if not isinstance(config, self.config):
            config = self.config.from_dict(config)
        return self.model(config, seed=seed)


MODELS: dict = {}


def register(name, model, config, task, train_defaults=None) -> ModelSpec:
    """Add a model to the registry (ValueError for a name taken or an unknown task)."""
    if name in MODELS:
        raise ValueError(f"register: a model named {name!r} is already registered")
    if task not in TASKS:
        raise ValueError(f"register: task must be one of {TASKS}, got {task!r}")
    MODELS[name] = ModelSpec(name, model, config, task, dict(train_defaults or {}))
    return MODELS[name]


# the class names older checkpoints stored in their manifest
_LEGACY = {"GPT": "gpt", "RNNLM": "rnnlm", "Seq2SeqTransformer": "seq2seq"}


def get_spec(name: str) -> ModelSpec:
    """The registry entry of a model name; ValueError naming the registered ones."""
    name = _LEGACY.get(name, name)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(MODELS)}")
    return MODELS[name]


def spec_of(model) -> ModelSpec:
    """The registry entry of a built model (by its class; a subclass finds its parent's)."""
    for spec in MODELS.values():
        if type(model) is spec.model:
            return spec
    for spec in MODELS.values():
        if isinstance(model, spec.model):
            return spec
    raise ValueError(
        f"{type(model).__name__} is not a registered model; registered: {', '.join(MODELS)}"
    )


def build_model(name: str, config, seed: int = 0):
    """A model from its registry name and its config (a config object or a dict)."""
    return get_spec(name).build(config, seed)


register("gpt", GPT, GPTConfig, "causal_lm")
register("rnnlm", RNNLM, RNNLMConfig, "causal_lm")
register("seq2seq", Seq2SeqTransformer, Seq2SeqConfig, "seq2seq")
register("bert", BertForPreTraining, BertConfig, "masked_lm")
register(
    "bert_seq_cls", BertForSequenceClassification, BertClassifierConfig, "sequence_classification"
)
register("bert_token_cls", BertForTokenClassification, BertClassifierConfig, "token_classification")
