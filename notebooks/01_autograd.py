# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Autograd: from the chain rule to minillm's engine
#
# Every model in this project learns by gradient descent, and every gradient comes from one small
# engine: `minillm.tensor`. This chapter builds it up in steps: the chain rule by hand on a
# scalar, the same computation recorded as a graph, the op table of forward/backward pairs,
# the finite-difference check that keeps each pair honest, broadcasting, and the rules for where
# gradients end up (leaves, accumulation, `retain_graph`, `no_grad`).
# The semantics are written out in `docs/autograd.md`.

# %% Settings (CI runs this notebook with MINILLM_SMALL=1)
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
N_GRID = 41 if SMALL else 201  # points of the plot at the end

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import minillm.functional as F
from minillm.tensor import Tensor, gradcheck, no_grad

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The chain rule by hand
#
# Take $f(x) = \tanh(w x + b)^2$. Name the steps $u = w x + b$, $h = \tanh u$, $f = h^2$. The
# chain rule multiplies the local derivatives backwards from $f$:
#
# $$\frac{\partial f}{\partial x} = \frac{\partial f}{\partial h}\,\frac{\partial h}{\partial u}\,
#   \frac{\partial u}{\partial x} = 2h \cdot (1 - h^2) \cdot w,\qquad
#   \frac{\partial f}{\partial w} = 2h\,(1-h^2)\,x,\qquad
#   \frac{\partial f}{\partial b} = 2h\,(1-h^2).$$

# %%
x0, w0, b0 = 0.7, -1.3, 0.4
u = w0 * x0 + b0
h = math.tanh(u)
by_hand = {"x": 2 * h * (1 - h * h) * w0, "w": 2 * h * (1 - h * h) * x0, "b": 2 * h * (1 - h * h)}
by_hand

# %% [markdown]
# ## 2. The same computation, recorded
#
# A `Tensor` with `requires_grad=True` records every op applied to it: each result remembers its
# parents and a backward function. `backward()` walks that graph from the output to the leaves in
# reverse topological order and applies the chain rule at each node.

# %%
x = Tensor(np.float64(x0), requires_grad=True)
w = Tensor(np.float64(w0), requires_grad=True)
b = Tensor(np.float64(b0), requires_grad=True)
f = (w * x + b).tanh() ** 2
f.backward()
for name, t in (("x", x), ("w", w), ("b", b)):
    assert abs(t.grad - by_hand[name]) < 1e-15, name
print(f"f = {f.item():.6f}; grads:", {n: float(t.grad) for n, t in (("x", x), ("w", w), ("b", b))})

# %% [markdown]
# The graph is walked iteratively (not by recursion), so a 10,000-step unrolled RNN is fine. The
# op names of the nodes, output first:

# %%
from minillm.tensor.graph import topological_order

x = Tensor(np.float64(x0), requires_grad=True)
f = (w * x + b).tanh() ** 2
order = [node._op for node in topological_order(f)]
print(order)
assert order[0] == "pow" and order.count("leaf") == 3

# %% [markdown]
# ## 3. The op table: forward/backward pairs on arrays
#
# Each op is a pair of plain array functions. The forward returns its output and a cache; the
# backward takes the upstream gradient $\bar y = \partial L/\partial y$ and the cache and returns
# one gradient per input. About fifteen **primitives** (add, mul, exp, sum, max, getitem, matmul,
# ...) live in `minillm.tensor.PRIMITIVES`; the **composites** of the formula sheet (softmax,
# layer norm, GELU, cross-entropy, attention) live in `minillm.ops.OP_TABLE`, each with its own
# hand-derived backward.

# %%
from minillm.ops import OP_TABLE
from minillm.tensor import PRIMITIVES

print("primitives:", sorted(PRIMITIVES))
print("composites:", sorted(OP_TABLE))
assert {"matmul", "sum", "getitem"} <= set(PRIMITIVES) and "softmax" in OP_TABLE

# %% [markdown]
# ### Softmax (F17)
#
# $$s_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},\quad m = \max_j x_j \qquad\text{(F17, computed
# max-subtracted)}$$
#
# Its Jacobian is $J = \operatorname{diag}(s) - s s^\top$, so the backward never builds $J$:
#
# $$\bar x = J^\top \bar s = s \odot \big(\bar s - (\bar s \cdot s)\big).$$

# %%
from minillm.ops.softmax import softmax_backward, softmax_forward

z = rng.standard_normal(6)
s, cache = softmax_forward(z)
ds = rng.standard_normal(6)
J = np.diag(s) - np.outer(s, s)
assert np.allclose(softmax_backward(ds, cache), J.T @ ds, rtol=1e-13)
assert abs(s.sum() - 1) < 1e-15
s.round(4)

# %% [markdown]
# ### Matmul (F13's $Q = X W_Q$)
#
# For $Y = A B$: $\bar A = \bar Y B^\top$ and $\bar B = A^\top \bar Y$. With a batch of $A$s and one
# $B$ (a layer's weight), $\bar B$ sums over the batch.

# %%
from minillm.tensor.primitives import matmul_backward, matmul_forward

A = rng.standard_normal((2, 3, 4))  # (B, T, C)
Bw = rng.standard_normal((4, 5))  # (C, N)
Y, cache = matmul_forward(A, Bw)  # (B, T, N)
dY = rng.standard_normal(Y.shape)
dA, dB = matmul_backward(dY, cache)
assert np.allclose(dA, dY @ Bw.T)
assert np.allclose(dB, sum(A[i].T @ dY[i] for i in range(2)))
print(Y.shape, dA.shape, dB.shape)

# %% [markdown]
# ## 4. gradcheck: the test every pair must pass
#
# A hand-written backward can be wrong in ways that still train, slowly. `gradcheck` compares it
# with central differences in float64 on $L = \sum_k y_k G_k$ for a random $G$:
#
# $$\frac{\partial L}{\partial x_i} \approx \frac{L(x + \epsilon e_i) - L(x - \epsilon e_i)}
#   {2\epsilon},\quad \epsilon = 10^{-6},\quad |\text{analytic} - \text{numeric}| \le 10^{-5} +
#   10^{-3}\,|\text{numeric}|.$$

# %%
xs = Tensor(rng.standard_normal((2, 3, 7)), requires_grad=True)
gamma = Tensor(rng.uniform(0.5, 1.5, 7), requires_grad=True)
beta = Tensor(rng.standard_normal(7), requires_grad=True)
assert gradcheck(lambda a, g, c: F.layer_norm(a, 7, g, c), xs, gamma, beta)

q, k, v = (Tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True) for _ in range(3))
assert gradcheck(lambda a, c, d: F.scaled_dot_product_attention(a, c, d, is_causal=True), q, k, v)

# %% [markdown]
# A wrong backward is caught, and the message names the op, the input, its shape and the worst
# index. Here $y = x^2$ with the factor 2 forgotten:

# %%
xw = Tensor(rng.uniform(1, 2, (3, 4)), requires_grad=True)
try:
    gradcheck(
        lambda t: Tensor.from_op(t.data**2, (t,), lambda d: (d * t.data,), "wrong_square"), xw
    )
    caught = None
except AssertionError as e:
    caught = str(e)
print(caught)
assert caught is not None and "wrong_square" in caught and "(3, 4)" in caught

# %% [markdown]
# ## 5. Broadcasting gradients: unbroadcast
#
# $a$ of shape $(3, 1)$ plus $b$ of shape $(4,)$ gives $y$ of shape $(3, 4)$: $a$ was copied along
# the columns, $b$ along the rows. Each copy contributes to the gradient, so the backward
# **sums** $\bar y$ over the broadcast axes: $\bar a = \sum_j \bar y_{:, j}$ (kept as a column),
# $\bar b = \sum_i \bar y_{i, :}$.

# %%
from minillm.tensor.primitives import unbroadcast

a = Tensor(rng.standard_normal((3, 1)), requires_grad=True)
b2 = Tensor(rng.standard_normal(4), requires_grad=True)
y = a + b2
dy = rng.standard_normal(y.shape)
y.backward(dy)
assert a.grad.shape == (3, 1) and b2.grad.shape == (4,)
assert np.allclose(a.grad, dy.sum(axis=1, keepdims=True))
assert np.allclose(b2.grad, dy.sum(axis=0))
assert np.allclose(unbroadcast(dy, (4,)), b2.grad)
print(y.shape, a.grad.shape, b2.grad.shape)

# %% [markdown]
# ## 6. Where gradients go: leaves, accumulation, freeing
#
# - A **leaf** is a tensor you made with `requires_grad=True` (a weight). Only leaves get `.grad`;
#   intermediate results keep `.grad = None`.
# - Gradients **add up**: when a tensor is used twice, both paths contribute. With
#   $b = a + a$, $c = b^2$: $\partial c/\partial a = 2b \cdot 2 = 8a$.
# - They also add up **across backward calls**, until you clear them (`model.zero_grad()` sets
#   them to `None`). This is what gradient accumulation (C9) relies on.
# - Backward **frees the graph** (the cached arrays). A second backward through it raises, unless
#   the first passed `retain_graph=True`.

# %%
a = Tensor(np.array([1.5, -2.0, 3.0]), requires_grad=True)
b3 = a + a
c = b3 * b3
c.backward(np.ones(3))
assert np.allclose(a.grad, 8 * a.data) and b3.grad is None

c2 = (a * a).sum()
c2.backward(retain_graph=True)  # adds 2a to the 8a already there
c2.backward()  # allowed once more because of retain_graph: adds another 2a
assert np.allclose(a.grad, 12 * a.data)
try:
    c2.backward()  # the graph is gone now
    raised = False
except RuntimeError as e:
    raised = "retain_graph" in str(e)
assert raised
print("a.grad =", a.grad)

# %% [markdown]
# `no_grad` (a context manager or a decorator) turns recording off: optimizer updates and
# generation build no graph and keep no cached arrays.

# %%
with no_grad():
    y = a * 2.0 + 1.0
assert not y.requires_grad
print(y)

# %% [markdown]
# ## 7. A picture: GELU and its derivative (C14)
#
# $$\mathrm{GELU}(x) = x\,\Phi(x),\qquad \mathrm{GELU}'(x) = \Phi(x) + x\,\varphi(x).$$
#
# The autograd derivative (one backward over the whole grid) against central differences of the
# forward alone:

# %%
grid = np.linspace(-4, 4, N_GRID)
xg = Tensor(grid, requires_grad=True)
yg = F.gelu(xg)
yg.backward(np.ones_like(grid))
eps = 1e-5
fd = (F.gelu(Tensor(grid + eps)).data - F.gelu(Tensor(grid - eps)).data) / (2 * eps)
assert np.abs(xg.grad - fd).max() < 1e-5

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(grid, yg.data, label="GELU(x)")
ax.plot(grid, xg.grad, label="autograd d/dx")
ax.plot(grid[::8], fd[::8], "o", ms=4, label="finite differences")
ax.axhline(0, color="gray", lw=0.5)
ax.set_xlabel("x")
ax.legend()
plt.show()
