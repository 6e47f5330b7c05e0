"""Recurrent layers that unroll a cell over time: RNN (F2), LSTM and GRU (C11).

The interface is PyTorch's: forward(x, h0=None) -> (output, h_n), output (B, T, H) holding the top
layer's h_t at every step, h_n (num_layers, B, H) the last step's state of every layer (LSTM:
h0 and h_n are pairs (h, c)). Backprop through time is autograd over the unrolled graph.
"""

import numpy as np

from ..tensor import Tensor, stack
from .containers import ModuleList
from .layers import Dropout
from .module import Module
from .rnn_cells import GRUCell, LSTMCell, RNNCell


class _Recurrent(Module):
    """A stack of num_layers cells unrolled over T steps; layer l > 0 reads layer l-1's h_t
    (through dropout while training, as PyTorch: never after the last layer)."""

    def __init__(self, make_cell, input_size, hidden_size, num_layers, batch_first, dropout, rng):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first = batch_first
        self.cells = ModuleList(
            make_cell(hidden_size if l else input_size) for l in range(num_layers)
        )
        seed = None if rng is None else int(rng.integers(2**32))
        self.drop = Dropout(dropout, seed=seed)

    def _layer_states(self, h0, B):
        """h0 (num_layers, B, H) -> one state per layer (None: zeros, made by the cell)."""
        if h0 is None:
            return [None] * self.num_layers
        h0 = h0 if isinstance(h0, Tensor) else Tensor(h0)
        expected = (self.num_layers, B, self.hidden_size)
        if h0.shape != expected:
            raise ValueError(
                f"{type(self).__name__}: expected initial state (num_layers, B, H) = {expected}, "
                f"got shape {h0.shape}"
            )
        return [h0[l] for l in range(self.num_layers)]  # num_layers x (B, H)

    def _final(self, states):
        return stack(states, axis=0)  # (num_layers, B, H)

    def forward(self, x, h0=None):
        name, I = type(self).__name__, self.input_size
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 3 or x.shape[-1] != I:
            layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            raise ValueError(f"{name}: expected input {layout} with input_size={I}, got {x.shape}")
        x = x if self.batch_first else x.transpose(0, 1)  # (T, B, I) -> (B, T, I)
        B, T = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{name}: the input has no time steps (shape {x.shape})")
        states = self._layer_states(h0, B)
        xs = [x[:, t] for t in range(T)]  # T x (B, I)
        finals = []
        for l, cell in enumerate(self.cells):
            if l > 0:
                xs = [self.drop(x_t) for x_t in xs]
            state, hs = states[l], []
            for x_t in xs:
                state = cell(x_t, state)
                hs.append(state[0] if isinstance(state, tuple) else state)  # (B, H)
            xs = hs
            finals.append(state)
        y = stack(xs, axis=1)  # T x (B, H) -> (B, T, H)
        y = y if self.batch_first else y.transpose(0, 1)  # (B, T, H) -> (T, B, H)
        return y, self._final(finals)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"


class RNN(_Recurrent):
    """Elman RNN (F2) over a sequence: h_t^l = f(h_t^{l-1} W_xh^l + h_{t-1}^l W_hh^l + b_h^l),
    h_t^0 = x_t. Cells in `cells` (nn.RNNCell); see it for the weights."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=True,
        nonlinearity="tanh",
        dropout=0.0,
        rng=None,
        dtype=np.float32,
    ):
        def make(n_in):
            return RNNCell(n_in, hidden_size, bias, nonlinearity, rng, dtype)

        super().__init__(make, input_size, hidden_size, num_layers, batch_first, dropout, rng)


class GRU(_Recurrent):
    """GRU (C11) over a sequence; cells in `cells` (nn.GRUCell, PyTorch's formulation)."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=True,
        dropout=0.0,
        rng=None,
        dtype=np.float32,
    ):
        def make(n_in):
            return GRUCell(n_in, hidden_size, bias, rng, dtype)

        super().__init__(make, input_size, hidden_size, num_layers, batch_first, dropout, rng)


class LSTM(_Recurrent):
    """LSTM (C11) over a sequence; cells in `cells` (nn.LSTMCell). h0 and h_n are pairs (h, c),
    each (num_layers, B, H): forward(x, (h0, c0)) -> (output, (h_n, c_n))."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=True,
        dropout=0.0,
        forget_bias=0.0,
        rng=None,
        dtype=np.float32,
    ):
        def make(n_in):
            return LSTMCell(n_in, hidden_size, bias, forget_bias, rng, dtype)

        super().__init__(make, input_size, hidden_size, num_layers, batch_first, dropout, rng)

    def _layer_states(self, h0, B):
        if h0 is None:
            return [None] * self.num_layers
        if not (isinstance(h0, tuple) and len(h0) == 2):
            raise ValueError(f"LSTM: the initial state must be a pair (h0, c0), got {type(h0)}")
        hs, cs = (super(LSTM, self)._layer_states(s, B) for s in h0)
        return list(zip(hs, cs))  # num_layers x ((B, H), (B, H))

    def _final(self, states):
        h_n = stack([h for h, _ in states], axis=0)  # (num_layers, B, H)
        c_n = stack([c for _, c in states], axis=0)  # (num_layers, B, H)
        return h_n, c_n
