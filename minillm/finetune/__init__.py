"""minillm.finetune: adapting a pre-trained BERT to a labelled task (C16, F10, F11, C20, C21).

- ``FinetuneConfig``, ``finetune``: the fine-tuning loop (AdamW, warm-up + cosine, best val epoch).
- ``METHODS``, ``register_method``, ``get_method``: how the model adapts (``full``; the
  parameter-efficient methods register here too).
- ``PlayClassification`` (sequence classification) and ``PersonTagging`` (token
  classification): the two labelled tasks on the shipped plays, encoded for a BERT; ``TASKS``.
- ``load_encoder``, ``with_dropout``, ``random_encoder``: where the encoder comes from.
- ``classification_report``, ``confusion_matrix``, ``format_report``, ``plot_confusion_matrix``
  (C20) and ``entity_report``, ``bio_spans`` (entity-level scores of BIO tags).
- ``bag_of_words_baseline``: logistic regression on word counts, the baseline to beat.

Imports models, nn, optim, data and generate; never minillm.train (tests/test_layering.py).
"""

from .baseline import BagOfWords, LogisticRegression, bag_of_words_baseline
from .config import FinetuneConfig
from .encoders import load_encoder, random_encoder, with_dropout
from .entities import bio_spans, entity_report
from .loop import FinetuneResult, finetune
from .methods import METHODS, Method, get_method, register_method
from .report import (
    classification_report,
    confusion_matrix,
    format_report,
    plot_confusion_matrix,
    report_from_confusion,
    save_report,
)
from .tasks import TASKS, PersonTagging, PlayClassification, get_task

__all__ = [
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
