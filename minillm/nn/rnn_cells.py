"""One time step of a recurrent network: the Elman cell (F2), the LSTM and the GRU cells (C11).

Row-vector convention, as in Linear: x_t (B, I) @ W_x (I, H). A cell is a composition of Tensor
ops, so autograd does backprop through time when a layer (nn/rnn.py) calls it once per step.
Init: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default.
"""

import math

import numpy as np

from ..ops.activations import relu, sigmoid
from ..tensor import Tensor
from ..tensor.backend import array_module
from .module import Module, Parameter


class _Cell(Module):
    """Shared by the cells: uniform init, and the shape checks on x_t and h_{t-1}."""

    PARAM_ROLES = {"b_h": "bias", "b": "bias", "b_x": "bias"}  # the W_* are "weight"

    def __init__(self, input_size, hidden_size, rng, dtype):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"{type(self).__name__}: input_size and hidden_size must be >= 1, "
                f"got {input_size} and {hidden_size}"
            )
        self.input_size, self.hidden_size = input_size, hidden_size
        self._rng = rng if rng is not None else np.random.default_rng()
        self._dtype = dtype

    def _uniform(self, *shape):
        bound = 1.0 / math.sqrt(self.hidden_size)
        return Parameter(self._rng.uniform(-bound, bound, shape).astype(self._dtype))

    def _check(self, x, h):
        """Raise ValueError naming the expected and actual shapes; h=None -> zeros (B, H)."""
        name = type(self).__name__
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{name}: expected x_t (B, {self.input_size}), got shape {x.shape}")
        B, H = x.shape[0], self.hidden_size
        if h is None:
            return Tensor(
                array_module(x.data).zeros((B, H), dtype=x.dtype)
            )  # (B, H) the zero initial state
        if h.shape != (B, H):
            raise ValueError(f"{name}: expected state (B, H) = {(B, H)}, got shape {h.shape}")
        return h

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_Cell):
    """h_t = f(x_t W_xh + h_{t-1} W_hh + b_h),  f = tanh (default) or relu     (F2, Elman)

    Shapes: x_t (B, I), h_{t-1} (B, H) -> h_t (B, H); W_xh (I, H), W_hh (H, H), b_h (H,).
    Deviation: the source writes f(W_h h_{t-1} + W_x x_t + b_h) on column vectors; our W_xh is
    its W_x transposed. PyTorch keeps two biases (b_ih + b_hh); we keep their sum, b_h."""

    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", rng=None, dtype=np.float32
    ):
        super().__init__(input_size, hidden_size, rng, dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        self.W_xh = self._uniform(input_size, hidden_size)
        self.W_hh = self._uniform(hidden_size, hidden_size)
        self.b_h = self._uniform(hidden_size) if bias else None

    def forward(self, x, h=None):
        h = self._check(x, h)
        # BEGIN EXERCISE F2: h_t = f(x_t W_xh + h_{t-1} W_hh + b_h), f = tanh or relu
        # (self.nonlinearity); b_h may be None
        a = x @ self.W_xh + h @ self.W_hh  # (B, H) pre-activation
        a = a + self.b_h if self.b_h is not None else a
        return a.tanh() if self.nonlinearity == "tanh" else relu(a)
        # END EXERCISE


class LSTMCell(_Cell):
    """Long short-term memory (C11, Hochreiter & Schmidhuber 1997, with a forget gate):
        i = sigma(x W_xi + h W_hi + b_i)      input gate
        f = sigma(x W_xf + h W_hf + b_f)      forget gate
        g = tanh (x W_xg + h W_hg + b_g)      candidate cell
        o = sigma(x W_xo + h W_ho + b_o)      output gate
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
    The four gates are stacked side by side in the order i, f, g, o (PyTorch's): W_x (I, 4H) =
    [W_xi | W_xf | W_xg | W_xo], W_h (H, 4H), b (4H,). State (h, c), each (B, H).
    Deviation: PyTorch's two biases (b_ih + b_hh) are kept as their sum b. forget_bias is added
    to b_f at init (0 = PyTorch; 1 is Jozefowicz et al. 2015's advice for long memories)."""

    def __init__(
        self, input_size, hidden_size, bias=True, forget_bias=0.0, rng=None, dtype=np.float32
    ):
        super().__init__(input_size, hidden_size, rng, dtype)
        H = hidden_size
        self.W_x = self._uniform(input_size, 4 * H)
        self.W_h = self._uniform(H, 4 * H)
        self.b = self._uniform(4 * H) if bias else None
        if bias:
            self.b.data[H : 2 * H] += forget_bias

    def forward(self, x, state=None):
        h, c = (None, None) if state is None else state
        h, c = self._check(x, h), self._check(x, c)
        H = self.hidden_size
        # BEGIN EXERCISE C11: gates z = x W_x + h W_h + b split as i, f, g, o (H columns each); c_t
        # = f c + i g; return (o tanh(c_t), c_t)
        z = x @ self.W_x + h @ self.W_h  # (B, 4H) the four gates' pre-activations
        z = z + self.b if self.b is not None else z
        i = sigmoid(z[:, :H])  # (B, H)
        f = sigmoid(z[:, H : 2 * H])  # (B, H)
        g = z[:, 2 * H : 3 * H].tanh()  # (B, H)
        o = sigmoid(z[:, 3 * H :])  # (B, H)
        c = f * c + i * g  # (B, H)
        return o * c.tanh(), c
        # END EXERCISE


class GRUCell(_Cell):
    """Gated recurrent unit (C11, Cho et al. 2014), PyTorch's formulation:
        r = sigma(x W_xr + b_xr + h W_hr + b_hr)         reset gate
        z = sigma(x W_xz + b_xz + h W_hz + b_hz)         update gate
        n = tanh (x W_xn + b_xn + r * (h W_hn + b_hn))   candidate
        h_t = (1 - z) * n + z * h_{t-1}
    Gates stacked in the order r, z, n: W_x (I, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,).
    Deviation: Cho et al. put r inside the product, tanh(x W_xn + (r * h) W_hn); PyTorch (and we)
    apply r to (h W_hn + b_hn), which is why both biases are kept: b_hn sits inside r * (...)."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, rng, dtype)
        H = hidden_size
        self.W_x = self._uniform(input_size, 3 * H)
        self.W_h = self._uniform(H, 3 * H)
        self.b_x = self._uniform(3 * H) if bias else None
        self.b_h = self._uniform(3 * H) if bias else None

    def forward(self, x, h=None):
        h = self._check(x, h)
        H = self.hidden_size
        gx = x @ self.W_x  # (B, 3H) input part of r, z, n
        gh = h @ self.W_h  # (B, 3H) recurrent part of r, z, n
        if self.b_x is not None:
            gx, gh = gx + self.b_x, gh + self.b_h
        r = sigmoid(gx[:, :H] + gh[:, :H])  # (B, H)
        z = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])  # (B, H)
        n = (gx[:, 2 * H :] + r * gh[:, 2 * H :]).tanh()  # (B, H)
        return (1 - z) * n + z * h
