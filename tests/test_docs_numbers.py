"""The numbers the docs state about the shipped corpus and the demo model are recomputed here, so
a change to the data or the model cannot leave the docs saying something else."""

import math
import re
from pathlib import Path

from minillm.data import CharTokenizer, load_text, train_val_split
from minillm.models import GPT
from minillm.train import config_from_args

ROOT = Path(__file__).resolve().parent.parent


def doc(name):
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_corpus_sizes_and_vocabulary_in_the_docs():
    text = load_text("shakespeare")
    train, val = train_val_split(text, 0.9)
    V = CharTokenizer.from_text(text).vocab_size
    base = doc("baselines.md")
    assert f"{len(text):,} ASCII characters, {V} distinct" in base
    assert f"({len(train):,} chars), last 10 % validation ({len(val):,})" in base
    assert f"| `V` | vocabulary size | {V} (the shipped corpus" in doc("notation.md")
    assert f"{math.log(V):.2f} nats for the\n{V} characters" in doc("training.md")
    assert f"from ln V = {math.log(V):.2f}" in doc("rnn.md")


def test_the_demo_models_parameter_count_in_the_docs():
    cfg = config_from_args(["--preset=shakespeare-char"])
    V = CharTokenizer.from_text(load_text("shakespeare")).vocab_size
    n = GPT(cfg.model_config_for(V)).num_params()
    stated = f"{n / 1e6:.2f} M"
    assert re.search(rf"{re.escape(stated)} for the baby config", doc("training.md")), stated
    assert f"It has {stated} parameters" in doc("baselines.md"), stated
