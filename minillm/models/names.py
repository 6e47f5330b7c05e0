"""The machinery of name tables: how minillm's parameter names map onto another codebase's
checkpoint names (nanoGPT in gpt_names.py, Hugging Face's BERT in bert_names.py).

A table is a tuple of rows (minillm name, foreign name, how). Names of per-layer parameters
hold "{i}", filled in for every layer. `how` says how the array travels:
    "copy"   the same array;
    "T"      transposed: minillm's Linear stores W as (in, out), y = x W (row vectors);
             PyTorch's nn.Linear stores weight as (out, in), y = x weight^T.
A table may add kinds of its own (gpt_names.py fuses W_q, W_k, W_v into c_attn).
"""

import numpy as np

SIMPLE = ("copy", "T")


def expand_rows(table, n_layers: int):
    """The rows with "{i}" filled in for i = 0 .. n_layers-1: (minillm name, foreign name, how).
    A row without "{i}" appears once, as written."""
    for mine, theirs, how in table:
        if "{i}" not in mine:
            yield mine, theirs, how
            continue
        for i in range(n_layers):
            yield mine.format(i=i), theirs.format(i=i), how


def move(array, how: str) -> np.ndarray:
    """One array across the table, either way ("copy" and "T" are their own inverses)."""
    if how not in SIMPLE:
        raise ValueError(f"names: unknown conversion {how!r}; expected one of {SIMPLE}")
    a = np.asarray(array)
    return np.ascontiguousarray(a.T if how == "T" else a)


def from_foreign(state: dict, table, n_layers: int) -> tuple[dict, list]:
    """Foreign state dict -> (minillm state dict, foreign keys no row used, sorted)."""
    out, used = {}, set()
    for mine, theirs, how in expand_rows(table, n_layers):
        if theirs in state:
            out[mine] = move(state[theirs], how)
            used.add(theirs)
    return out, sorted(set(state) - used)


def to_foreign(state: dict, table, n_layers: int) -> dict:
    """minillm state dict -> foreign names and layouts (rows whose parameter is absent skipped)."""
    return {
        theirs: move(state[mine], how)
        for mine, theirs, how in expand_rows(table, n_layers)
        if mine in state
    }


def compare_with_model(own: dict, loaded: dict, source: str) -> list:
    """(missing keys) of a state dict mapped from a foreign checkpoint against the model's own
    state dict; ValueError naming every shape that differs (a checkpoint of another size)."""
    shapes = [
        f"{k}: {source} {tuple(np.shape(loaded[k]))} vs model {tuple(own[k].shape)}"
        for k in own
        if k in loaded and tuple(np.shape(loaded[k])) != tuple(own[k].shape)
    ]
    if shapes:
        raise ValueError(f"{source} does not fit the model: " + "; ".join(shapes))
    return sorted(set(own) - set(loaded))
