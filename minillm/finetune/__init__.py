"""minillm.finetune: adapting a pre-trained BERT to a labelled task (C16, F10, F11, C20, C21).

- ``FinetuneConfig``, ``finetune``: the fine-tuning loop (AdamW, warm-up + cosine, best val epoch).
- ``METHODS``, ``register_method``, ``get_method``: how the model adapts: ``full``, and the
  parameter-efficient ``head`` (linear probing, freeze.py), ``adapter`` (adapters.py), ``lora``
  (lora.py) and ``prefix`` (prefix.py); ``freeze``/``unfreeze`` by name pattern.
- ``LanguageModelling`` (lm_task.py): a language model adapting to a text, task "lm";
  ``train_steps`` (steps.py): a step-budgeted loop for the comparisons.
- ``prompting``: zero-/few-shot classification by label log-likelihood (C17); ``continual``:
  rehearsal and EWC against forgetting (C18); ``remedies``: augmentation, ensembles (C22).
- ``PlayClassification`` (sequence classification) and ``PersonTagging`` (token
  classification): the two labelled tasks on the shipped plays, encoded for a BERT; ``TASKS``.
- ``load_encoder``, ``with_dropout``, ``random_encoder``: where the encoder comes from.
- ``classification_report``, ``confusion_matrix``, ``format_report``, ``plot_confusion_matrix``
  (C20) and ``entity_report``, ``bio_spans`` (entity-level scores of BIO tags).
- ``bag_of_words_baseline``: logistic regression on word counts, the baseline to beat.

Imports models, nn, optim, data and generate; never minillm.train (tests/test_layering.py).
"""

from . import continual, prompting, remedies
from .adapters import Adapter, add_adapters
from .baseline import BagOfWords, LogisticRegression, bag_of_words_baseline
from .config import FinetuneConfig
from .encoders import load_encoder, random_encoder, with_dropout
from .entities import bio_spans, entity_report
from .freeze import (
    freeze,
    head_patterns,
    linear_probe,
    parameter_report,
    trainable_summary,
    unfreeze,
)
from .lm_task import (
    LanguageModelling,
    play_texts,
    pretraining_text,
    text_nll,
    with_model_dropout,
)
from .loop import FinetuneResult, finetune
from .lora import LoRALinear, add_lora, merge_lora
from .methods import METHODS, Method, get_method, register_method
from .prefix import PrefixEncoder, add_prefix, collapse_prefix, prepare_to_save
from .report import (
    classification_report,
    confusion_matrix,
    format_report,
    plot_confusion_matrix,
    report_from_confusion,
    save_report,
)
from .steps import cycle_batches, train_steps
from .tasks import TASKS, PersonTagging, PlayClassification, get_task

__all__ = [
    "continual",
    "prompting",
    "remedies",
    "Adapter",
    "LanguageModelling",
    "LoRALinear",
    "PrefixEncoder",
    "add_adapters",
    "add_lora",
    "add_prefix",
    "collapse_prefix",
    "cycle_batches",
    "freeze",
    "head_patterns",
    "linear_probe",
    "merge_lora",
    "parameter_report",
    "play_texts",
    "pretraining_text",
    "prepare_to_save",
    "text_nll",
    "train_steps",
    "trainable_summary",
    "unfreeze",
    "with_model_dropout",
    "METHODS",
    "TASKS",
    "BagOfWords",
    "FinetuneConfig",
    "FinetuneResult",
    "LogisticRegression",
    "Method",
    "PersonTagging",
    "PlayClassification",
    "bag_of_words_baseline",
    "bio_spans",
    "classification_report",
    "confusion_matrix",
    "entity_report",
    "finetune",
    "format_report",
    "get_method",
    "get_task",
    "load_encoder",
    "plot_confusion_matrix",
    "random_encoder",
    "register_method",
    "report_from_confusion",
    "save_report",
    "with_dropout",
]
