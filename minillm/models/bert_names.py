"""The one table between minillm's BERT parameter names and Hugging Face's (transformers'
BertModel, BertForPreTraining, BertFor{Sequence,Token}Classification).

Linear weights are transposed on the way (names.py). Hugging Face keeps W_q, W_k, W_v apart as
query, key, value, so unlike nanoGPT's c_attn nothing is fused. The table's "bert." prefix
applies on both sides to a model that wraps the encoder (pre-training, classifiers); a bare
BertModel checkpoint (all-MiniLM-L6-v2's) has none.
"""

from . import names

# the encoder: minillm's BERT (models/bert.py) <-> Hugging Face's BertModel
ENCODER = (
    ("wte.W", "embeddings.word_embeddings.weight", "copy"),
    ("wpe.W", "embeddings.position_embeddings.weight", "copy"),
    ("wtt.W", "embeddings.token_type_embeddings.weight", "copy"),
    ("ln_emb.gamma", "embeddings.LayerNorm.weight", "copy"),
    ("ln_emb.beta", "embeddings.LayerNorm.bias", "copy"),
    ("blocks.{i}.self_attn.W_q.W", "encoder.layer.{i}.attention.self.query.weight", "T"),
    ("blocks.{i}.self_attn.W_q.b", "encoder.layer.{i}.attention.self.query.bias", "copy"),
    ("blocks.{i}.self_attn.W_k.W", "encoder.layer.{i}.attention.self.key.weight", "T"),
    ("blocks.{i}.self_attn.W_k.b", "encoder.layer.{i}.attention.self.key.bias", "copy"),
    ("blocks.{i}.self_attn.W_v.W", "encoder.layer.{i}.attention.self.value.weight", "T"),
    ("blocks.{i}.self_attn.W_v.b", "encoder.layer.{i}.attention.self.value.bias", "copy"),
    ("blocks.{i}.self_attn.W_o.W", "encoder.layer.{i}.attention.output.dense.weight", "T"),
    ("blocks.{i}.self_attn.W_o.b", "encoder.layer.{i}.attention.output.dense.bias", "copy"),
    ("blocks.{i}.norm1.gamma", "encoder.layer.{i}.attention.output.LayerNorm.weight", "copy"),
    ("blocks.{i}.norm1.beta", "encoder.layer.{i}.attention.output.LayerNorm.bias", "copy"),
    ("blocks.{i}.ff.W_1.W", "encoder.layer.{i}.intermediate.dense.weight", "T"),
    ("blocks.{i}.ff.W_1.b", "encoder.layer.{i}.intermediate.dense.bias", "copy"),
    ("blocks.{i}.ff.W_2.W", "encoder.layer.{i}.output.dense.weight", "T"),
    ("blocks.{i}.ff.W_2.b", "encoder.layer.{i}.output.dense.bias", "copy"),
    ("blocks.{i}.norm2.gamma", "encoder.layer.{i}.output.LayerNorm.weight", "copy"),
    ("blocks.{i}.norm2.beta", "encoder.layer.{i}.output.LayerNorm.bias", "copy"),
    ("pooler.W", "pooler.dense.weight", "T"),
    ("pooler.b", "pooler.dense.bias", "copy"),
)
# the heads, by model kind (minillm names inside BertForPreTraining / the classifiers)
HEADS = {
    "encoder": (),
    "pretraining": (
        ("mlm.transform.W", "cls.predictions.transform.dense.weight", "T"),
        ("mlm.transform.b", "cls.predictions.transform.dense.bias", "copy"),
        ("mlm.ln.gamma", "cls.predictions.transform.LayerNorm.weight", "copy"),
        ("mlm.ln.beta", "cls.predictions.transform.LayerNorm.bias", "copy"),
        ("mlm.decoder.b", "cls.predictions.bias", "copy"),
        ("nsp.classifier.W", "cls.seq_relationship.weight", "T"),
        ("nsp.classifier.b", "cls.seq_relationship.bias", "copy"),
    ),
    "classifier": (
        ("head.classifier.W", "classifier.weight", "T"),
        ("head.classifier.b", "classifier.bias", "copy"),
    ),
}
# Hugging Face keys that hold no weight of their own: a buffer of position ids (arange), and the
# tied decoder (= the word embedding, and its bias = cls.predictions.bias)
IGNORED = (
    "embeddings.position_ids",
    "cls.predictions.decoder.weight",
    "cls.predictions.decoder.bias",
)


def table(kind: str = "encoder"):
    """The rows for a model kind: "encoder" (BERT), "pretraining" (BertForPreTraining) or
    "classifier" (BertFor{Sequence,Token}Classification)."""
    if kind not in HEADS:
        raise ValueError(f"bert_names: kind must be one of {sorted(HEADS)}, got {kind!r}")
    if kind == "encoder":
        return ENCODER
    prefixed = tuple(("bert." + m, "bert." + t, how) for m, t, how in ENCODER)
    return prefixed + HEADS[kind]


def _is_ignored(key: str) -> bool:
    return key.removeprefix("bert.") in IGNORED or key in IGNORED


def from_hf(state: dict, n_layers: int, kind: str = "encoder") -> tuple[dict, list, list]:
    """Hugging Face state dict (NumPy arrays) -> (minillm state dict, unused keys, ignored keys).

    A bare BertModel checkpoint also loads as kind "pretraining"/"classifier" encoders and vice
    versa: a "bert." prefix is added or stripped to fit the kind."""
    wrapped = any(k.startswith("bert.") for k in state)
    if kind == "encoder" and wrapped:
        state = {k.removeprefix("bert."): v for k, v in state.items()}
    elif kind != "encoder" and not wrapped:
        state = {("bert." + k if k.split(".")[0] in ("embeddings", "encoder", "pooler") else k): v
                 for k, v in state.items()}  # fmt: skip
    ignored = sorted(k for k in state if _is_ignored(k))
    ours, unused = names.from_foreign(state, table(kind), n_layers)
    return ours, [k for k in unused if not _is_ignored(k)], ignored


def to_hf(state: dict, n_layers: int, kind: str = "encoder") -> dict:
    """minillm state dict -> Hugging Face names and layouts."""
    return names.to_foreign(state, table(kind), n_layers)
