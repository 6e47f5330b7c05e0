"""The KV cache: the keys and values an attention layer has seen, kept between calls (generation,
prefix tuning)."""

from ..tensor import Tensor, concatenate, is_grad_enabled
from ..tensor.backend import array_module


class KVCache:
    """Keys and values one attention layer has seen, for generation and prefix tuning.

    k, v: Tensors (B, H, S, D): first the prefix rows (prefix tuning's learned keys/values, which
    may carry gradients), then one row per token position seen, grown along S by each forward.
    position: how many token positions have been consumed, i.e. the position index of the next
    token. It is kept apart from len(cache) (the rows, prefix included), so prefix rows neither
    shift positions nor count against the context length.
    Gradients flow through the stored rows when grad mode is on (prefix tuning trains through
    them); generation runs under no_grad, which builds no graph."""

    def __init__(self, prefix=None):
        self.k = self.v = None
        self.position = 0
        self.n_prefix = 0
        self._buffers = None  # (k_buf, v_buf) (B, H, capacity, D) while appending without grad
        if prefix is not None:
            k_p, v_p = prefix  # (B, H, P, D) each
            if k_p.shape != v_p.shape or k_p.ndim != 4:
                raise ValueError(
                    f"KVCache: prefix keys and values must both be (B, H, P, D), got "
                    f"{k_p.shape} and {v_p.shape}"
                )
            self.k, self.v, self.n_prefix = k_p, v_p, k_p.shape[-2]

    def __len__(self):
        return 0 if self.k is None else self.k.shape[-2]

    def extend(self, k: Tensor, v: Tensor):
        """Append the new positions (B, H, T, D) and return the keys/values of every row so far.

        With grad mode on, or rows that require grad, the rows are concatenated in the graph.
        Otherwise (generation) they are written into buffers that grow by doubling, so a step
        copies only its new rows instead of the whole cache (amortised O(T) instead of O(S))."""
        if self.k is not None and self.k.shape[0] != k.shape[0]:
            self.k, self.v = (expand_batch(t, k.shape[0]) for t in (self.k, self.v))
            self._buffers = None
        grads = is_grad_enabled() and (
            k.requires_grad or v.requires_grad or (self.k is not None and self.k.requires_grad)
        )
        if grads:
            self._buffers = None
            self.k = k if self.k is None else concatenate([self.k, k], axis=-2)  # (B, H, S, D)
            self.v = v if self.v is None else concatenate([self.v, v], axis=-2)  # (B, H, S, D)
        else:
            self.k, self.v = self._append_in_place(k.data, v.data)
        self.position += k.shape[-2]
        return self.k, self.v

    def _append_in_place(self, k, v):
        """Write k, v (B, H, T, D) after the rows so far; the returned Tensors view the buffers."""
        n_old = len(self)
        n = n_old + k.shape[-2]
        bufs = self._buffers
        if bufs is None or bufs[0].shape[-2] < n or bufs[0].dtype != k.dtype:
            xp = array_module(k)
            capacity = max(2 * n, 16)
            new = tuple(
                xp.empty(a.shape[:2] + (capacity,) + a.shape[3:], dtype=a.dtype)  # (B, H, cap, D)
                for a in (k, v)
            )
            if n_old:
                new[0][:, :, :n_old] = self.k.data
                new[1][:, :, :n_old] = self.v.data
            bufs = self._buffers = new
        bufs[0][:, :, n_old:n] = k
        bufs[1][:, :, n_old:n] = v
        return Tensor(bufs[0][:, :, :n]), Tensor(bufs[1][:, :, :n])  # (B, H, S, D) views


def expand_batch(t: Tensor, B: int) -> Tensor:
    """(1, H, P, D) -> (B, H, P, D) through a broadcasting add, so the gradient sums back."""
    if t.shape[0] != 1:
        raise ValueError(f"KVCache: prefix batch {t.shape[0]} does not match the input's {B}")
    zeros = Tensor(array_module(t.data).zeros((B, 1, 1, 1), dtype=t.dtype))  # (B, 1, 1, 1)
    return t + zeros  # (1, H, P, D) + (B, 1, 1, 1) -> (B, H, P, D)
