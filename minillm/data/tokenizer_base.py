"""What every tokenizer shares: special tokens, sentence pairs, truncation and padded batches.

A model reads more than the text's own tokens. BERT wraps a sentence as ``[CLS] A [SEP]`` and a
pair as ``[CLS] A [SEP] B [SEP]``, with token-type (segment) ids 0 over ``[CLS] A [SEP]`` and 1
over ``B [SEP]`` (Devlin et al. 2019, section 3 and Fig. 2); a GPT marks where a document ends;
a batch of sequences of different lengths needs a padding token and an attention mask that says
which positions are real (1) and which are padding (0).

``Tokenizer`` is the base class of the char, BPE and WordPiece tokenizers. A subclass provides
``vocab_size``, ``_encode_ordinary(text) -> (N,) int64`` (the text's own ids, no specials) and
two dicts, ``special_tokens`` (role -> token string) and ``special_ids`` (role -> id), over the
roles of ``ROLES`` that it has. It gets from here ``encode`` (a text or a pair, with specials and
truncation), ``encode_batch`` and ``pad`` (padded arrays and the attention mask),
``special_tokens_mask`` and the ``pad_id``, ``cls_id``, ``sep_id``, ``mask_id``, ``bos_id`` and
``eos_id`` properties (None where the tokenizer has no such token).

The template: a sequence opens with ``cls`` (else ``bos``) and each segment closes with ``sep``
(else ``eos``), whichever of them the tokenizer has::

    BERT (cls, sep):          [CLS] A [SEP]        [CLS] A [SEP] B [SEP]
    GPT style (bos, eos):     <bos> A <eos>        <bos> A <eos> B <eos>
    no such tokens:           A                    A B

``token_type_ids`` are 0 up to the end of segment A (its closing token included), 1 after.
"""

import numpy as np

ROLES = ("pad", "unk", "cls", "sep", "mask", "bos", "eos")
PADDINGS = ("longest", "max_length", "do_not_pad")


def check_special_tokens(special_tokens, who: str) -> dict[str, str]:
    """Validate a role -> token string mapping; return it as a dict in ``ROLES`` order."""
    if special_tokens is None:
        return {}
    if not isinstance(special_tokens, dict):
        raise TypeError(
            f"{who}: special_tokens must be a dict role -> token, got {special_tokens!r}"
        )
    for role, token in special_tokens.items():
        if role not in ROLES:
            raise ValueError(f"{who}: unknown special-token role {role!r}; expected one of {ROLES}")
        if not isinstance(token, str) or token == "":
            raise ValueError(
                f"{who}: special token for {role!r} must be a non-empty str, got {token!r}"
            )
    tokens = list(special_tokens.values())
    if len(set(tokens)) != len(tokens):
        dup = next(t for t in tokens if tokens.count(t) > 1)
        raise ValueError(f"{who}: special token {dup!r} is given for two roles")
    return {role: special_tokens[role] for role in ROLES if role in special_tokens}


def truncated_lengths(len_a: int, len_b: int | None, budget: int) -> tuple[int, int | None]:
    """Lengths of A and B after Hugging Face's ``longest_first`` truncation to ``budget`` tokens.

    One sequence: keep its first ``budget`` tokens. A pair: the longer loses tokens until both are
    equally long, then both lose alike, B one more when the count is odd (transformers'
    ``truncate_sequences``); the same as removing one token at a time from the longer one, from B
    on a tie. Tokens are always cut from the end.
    """
    if len_b is None:
        return min(len_a, budget), None
    remove = max(0, len_a + len_b - budget)
    first = min(abs(len_a - len_b), remove)  # evens out the two lengths
    rest = remove - first
    if len_a > len_b:
        return len_a - first - rest // 2, len_b - (rest - rest // 2)
    return len_a - rest // 2, len_b - first - (rest - rest // 2)


def pad_sequences(sequences, pad_id: int, max_len=None, padding="longest", side="right"):
    """Stack 1-D id sequences into ``(ids, attention_mask)``, both (B, T) int64.

    ``padding``: ``"longest"`` pads to the longest sequence, ``"max_length"`` to ``max_len``,
    ``"do_not_pad"`` (or False) needs all lengths equal. ``side``: where the padding goes. A
    sequence longer than ``max_len`` raises (truncate it first). ``attention_mask`` is 1 at real
    tokens, 0 at padding.
    """
    padding = "do_not_pad" if padding is False else padding
    if padding not in PADDINGS:
        raise ValueError(f"pad: padding must be one of {PADDINGS} or False, got {padding!r}")
    if side not in ("right", "left"):
        raise ValueError(f"pad: side must be 'right' or 'left', got {side!r}")
    seqs = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
    lengths = [len(s) for s in seqs]
    longest = max(lengths, default=0)
    if padding == "max_length":
        if max_len is None:
            raise ValueError("pad: padding='max_length' needs max_len")
        T = max_len
    else:
        T = longest
    if padding == "do_not_pad" and len(set(lengths)) > 1:
        raise ValueError(
            f"pad: padding='do_not_pad' needs equal lengths, got lengths {sorted(set(lengths))}"
        )
    if max_len is not None and longest > max_len:
        i = lengths.index(longest)
        raise ValueError(f"pad: sequence {i} has {longest} tokens, more than max_len={max_len}")
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)  # (B, T)
    mask = np.zeros((len(seqs), T), dtype=np.int64)  # (B, T)
    for i, s in enumerate(seqs):
        cols = slice(0, len(s)) if side == "right" else slice(T - len(s), T)
        ids[i, cols] = s
        mask[i, cols] = 1
    return ids, mask


class Tokenizer:
    """Base class: the special-token table and the encoding of pairs and padded batches.

    Subclasses set ``special_tokens``, ``special_ids`` and ``add_special_tokens_default`` (what
    ``encode`` does when ``add_special_tokens`` is None) and implement ``vocab_size`` and
    ``_encode_ordinary``.
    """

    special_tokens: dict[str, str] = {}
    special_ids: dict[str, int] = {}
    add_special_tokens_default = False

    @property
    def pad_id(self) -> int | None:
        return self.special_ids.get("pad")

    @property
    def cls_id(self) -> int | None:
        return self.special_ids.get("cls")

    @property
    def sep_id(self) -> int | None:
        return self.special_ids.get("sep")

    @property
    def mask_id(self) -> int | None:
        return self.special_ids.get("mask")

    @property
    def bos_id(self) -> int | None:
        return self.special_ids.get("bos")

    @property
    def eos_id(self) -> int | None:
        return self.special_ids.get("eos")

    @property
    def all_special_ids(self) -> list[int]:
        """The ids of every special token (the unknown token included), sorted."""
        return sorted(set(self.special_ids.values()))

    def special_tokens_mask(self, ids) -> np.ndarray:
        """A bool array shaped like ``ids``: True where the id is a special token."""
        return np.isin(np.asarray(ids), self.all_special_ids)

    def _opener_closer(self):
        opener = self.cls_id if self.cls_id is not None else self.bos_id
        closer = self.sep_id if self.sep_id is not None else self.eos_id
        return ([] if opener is None else [opener]), ([] if closer is None else [closer])

    def num_special_tokens(self, pair: bool = False) -> int:
        """How many special tokens the template adds to one text (or to a pair)."""
        opener, closer = self._opener_closer()
        return len(opener) + len(closer) * (2 if pair else 1)

    def build_inputs(self, ids_a, ids_b=None):
        """The template around ``ids_a`` (and ``ids_b``): ``(ids, token_type_ids)``, both (N,)."""
        opener, closer = self._opener_closer()
        first = [*opener, *np.asarray(ids_a, dtype=np.int64).tolist(), *closer]
        second = [] if ids_b is None else [*np.asarray(ids_b, dtype=np.int64).tolist(), *closer]
        ids = np.array(first + second, dtype=np.int64)  # (N,)
        types = np.array([0] * len(first) + [1] * len(second), dtype=np.int64)  # (N,)
        return ids, types

    def _encode_with_types(self, text, text_pair, add_special_tokens, max_len, truncation):
        who = f"{type(self).__name__}.encode"
        if add_special_tokens is None:
            add_special_tokens = self.add_special_tokens_default
        a = self._encode_ordinary(text)  # (N_a,)
        b = None if text_pair is None else self._encode_ordinary(text_pair)  # (N_b,)
        n_special = self.num_special_tokens(b is not None) if add_special_tokens else 0
        total = len(a) + (0 if b is None else len(b)) + n_special
        if truncation and max_len is None:
            raise ValueError(f"{who}: truncation=True needs max_len")
        if max_len is not None and total > max_len:
            if not truncation:
                what = "the pair has" if b is not None else "the text has"
                raise ValueError(
                    f"{who}: {what} {total} tokens (with {n_special} special), more than "
                    f"max_len={max_len}; pass truncation=True to cut it"
                )
            if max_len < n_special:
                raise ValueError(f"{who}: max_len={max_len} is fewer than the {n_special} specials")
            keep_a, keep_b = truncated_lengths(
                len(a), None if b is None else len(b), max_len - n_special
            )
            a = a[:keep_a]
            b = None if b is None else b[:keep_b]
        if add_special_tokens:
            return self.build_inputs(a, b)
        ids = a if b is None else np.concatenate([a, b])  # (N,)
        types = np.zeros(len(ids), dtype=np.int64)
        if b is not None:
            types[len(a) :] = 1
        return ids, types

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        *,
        add_special_tokens: bool | None = None,
        max_len: int | None = None,
        truncation: bool = False,
    ) -> np.ndarray:
        """The ids of ``text`` (and ``text_pair``): shape (N,) int64.

        ``add_special_tokens`` None means the tokenizer's default: True for WordPiece (as Hugging
        Face's BERT tokenizer), False for char and BPE (their ids stay what they always were).
        ``max_len`` caps the length, specials included: longer input raises ValueError unless
        ``truncation=True``, which cuts with ``truncated_lengths`` (Hugging Face's
        ``longest_first``). ``encode_batch`` also gives the token-type ids and the mask.
        """
        return self._encode_with_types(text, text_pair, add_special_tokens, max_len, truncation)[0]

    def encode_batch(
        self,
        texts,
        text_pairs=None,
        *,
        add_special_tokens: bool | None = None,
        max_len: int | None = None,
        truncation: bool = False,
        padding="longest",
        side="right",
    ) -> dict[str, np.ndarray]:
        """Encode a list of texts (or of pairs) into padded arrays.

        Returns ``{"input_ids", "token_type_ids", "attention_mask"}``, each (B, T) int64 with
        B = len(texts) and T the longest encoding (``padding="longest"``) or ``max_len``
        (``padding="max_length"``). Padding uses ``pad_id`` (a tokenizer without a pad token
        raises, unless nothing needs padding) and token type 0; the mask is 0 there.
        """
        who = f"{type(self).__name__}.encode_batch"
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{who}: texts must be a list of str, got {type(texts).__name__}")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"{who}: {len(texts)} texts but {len(text_pairs)} text_pairs")
        pairs = [None] * len(texts) if text_pairs is None else list(text_pairs)
        encoded = [
            self._encode_with_types(a, b, add_special_tokens, max_len, truncation)
            for a, b in zip(texts, pairs)
        ]
        ids, mask = self.pad([e[0] for e in encoded], max_len=max_len, padding=padding, side=side)
        types, _ = pad_sequences([e[1] for e in encoded], 0, max_len, padding, side)
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}

    def pad(self, sequences, *, max_len: int | None = None, padding="longest", side="right"):
        """``pad_sequences`` with this tokenizer's ``pad_id``: ``(ids, attention_mask)``, (B, T)."""
        seqs = [np.asarray(s) for s in sequences]
        lengths = {len(s) for s in seqs}
        needs_padding = len(lengths) > 1 or (padding == "max_length" and lengths != {max_len})
        if self.pad_id is None and needs_padding:
            raise ValueError(
                f"{type(self).__name__}.pad: this tokenizer has no pad token; build it with "
                f"special_tokens={{'pad': '<pad>'}}"
            )
        pad_id = -1 if self.pad_id is None else self.pad_id  # -1 is never written: no padding
        return pad_sequences(seqs, pad_id, max_len, padding, side)

    def _drop_special(self, arr: np.ndarray) -> np.ndarray:
        return arr[~self.special_tokens_mask(arr)] if self.special_ids else arr
