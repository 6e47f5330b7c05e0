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
# # 04 · Recurrent networks: the Elman RNN, LSTM and GRU, and why attention replaced them
#
# Before the Transformer, a language model read its text one token at a time, folding everything
# it had seen into a hidden state $h_t$. This notebook builds that model from `minillm`:
#
# 1. the Elman recurrence (**F2**) unrolled over time, and backpropagation through time;
# 2. the output layer $\log \mathrm{softmax}(h_t W_o + b_o)$ (**F3**);
# 3. the gated cells, LSTM and GRU (**C11**);
# 4. vanishing gradients: how much a loss at the last step can learn from a token $d$ steps
#    back, for an RNN, an LSTM, and a causal self-attention layer;
# 5. a character-level RNN language model trained on Shakespeare.
#
# Convention: row vectors, as everywhere in `minillm` (`x_t W`, with `W` of shape (in, out)).
# The source writes column vectors ($W_h h_{t-1}$); our matrices are its transposes.

# %% tags=["parameters"]
# Settings. CI sets MINILLM_SMALL=1 to run the notebook in well under a minute.
import os

SMALL = os.environ.get("MINILLM_SMALL", "0") == "1"
TRAIN_STEPS = 30 if SMALL else 300  # RNN language-model training steps
HIDDEN = 64 if SMALL else 128  # hidden size of the language model
T_GRAD = 60  # sequence length of the vanishing-gradient experiment
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

import minillm.functional as F
from minillm.tensor import Tensor, gradcheck

rng = np.random.default_rng(SEED)

# %% [markdown]
# ## 1. The Elman recurrence (F2)
#
# $$h_t = \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h), \qquad h_0 = 0$$
#
# One cell computes one step. `nn.RNN` applies the cell at every step $t = 1 \dots T$ (and
# stacks `num_layers` of them, layer $l$ reading layer $l-1$'s $h_t$). Below we unroll the loop
# by hand and check that the layer computes exactly that.

# %%
from minillm.nn import RNN

B, T, I, H = 2, 7, 3, 5
rnn = RNN(I, H, rng=np.random.default_rng(1), dtype=np.float64)
cell = rnn.cells[0]  # an nn.RNNCell holding W_xh (I, H), W_hh (H, H), b_h (H,)
x = rng.standard_normal((B, T, I))  # (B, T, I)

h = np.zeros((B, H))  # h_0
hs = []
for t in range(T):  # F2, written out with the cell's own weights
    h = np.tanh(x[:, t] @ cell.W_xh.data + h @ cell.W_hh.data + cell.b_h.data)
    hs.append(h)
by_hand = np.stack(hs, axis=1)  # (B, T, H)

output, h_n = rnn(Tensor(x))  # output (B, T, H), h_n (num_layers, B, H)
assert np.allclose(output.data, by_hand, atol=1e-12)
assert np.allclose(h_n.data[-1], by_hand[:, -1])  # h_n is the last step's state
print(
    "output",
    output.shape,
    "h_n",
    h_n.shape,
    "max |layer - loop|:",
    np.abs(output.data - by_hand).max(),
)

# %% [markdown]
# ### Backpropagation through time
#
# The layer is built from Tensor ops, so `backward()` walks the unrolled graph from step $T$ back
# to step 1: that *is* backpropagation through time. The chain rule multiplies one Jacobian per
# step,
# $$\frac{\partial h_t}{\partial h_{t-1}} = \mathrm{diag}(1 - h_t^2)\, W_{hh}^\top ,$$
# which is where vanishing gradients will come from (section 4). A finite-difference check
# confirms the gradients of the input and every weight:

# %%
xt = Tensor(x, requires_grad=True)
assert gradcheck(lambda x, *w: rnn(x)[0], xt, *rnn.parameters())
print("BPTT gradients match central differences for x and", [n for n, _ in rnn.named_parameters()])

# %% [markdown]
# ## 2. The output layer (F3)
#
# $$\log p(y_t \mid y_{<t}; \theta) = \log \mathrm{softmax}(h_t W_o + b_o)$$
#
# computed stably as $z - \mathrm{logsumexp}(z)$ with $z = h_t W_o + b_o$ (a naive
# `log(exp(z) / sum exp(z))` overflows for large logits).

# %%
from minillm.nn import LogSoftmaxOutput

V = 11
head = LogSoftmaxOutput(H, V, rng=np.random.default_rng(2), dtype=np.float64)
logp = head(output)  # (B, T, V)
z = output.data @ head.W_o.data + head.b_o.data  # (B, T, V)
assert np.allclose(logp.data, np.log(F.softmax(Tensor(z)).data))
assert np.allclose(np.exp(logp.data).sum(axis=-1), 1.0)  # every row is a distribution
print("log-probs", logp.shape, "row sums of exp:", np.exp(logp.data).sum(-1)[0, :3])

# %% [markdown]
# ## 3. Gated cells (C11)
#
# **LSTM** (Hochreiter & Schmidhuber 1997, with a forget gate). Four gates from the same input,
# stacked side by side in the order $i, f, g, o$ (PyTorch's): $W_x$ is (I, 4H), $W_h$ is (H, 4H).
# $$i = \sigma(x W_{xi} + h W_{hi} + b_i),\; f = \sigma(x W_{xf} + h W_{hf} + b_f),$$
# $$g = \tanh(x W_{xg} + h W_{hg} + b_g),\; o = \sigma(x W_{xo} + h W_{ho} + b_o)$$
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)$$
# The cell state $c_t$ is updated *additively*: when $f \approx 1$ and $i \approx 0$ it is copied
# forward unchanged, and so is its gradient.

# %%
from minillm.nn import GRUCell, LSTMCell

lstm_cell = LSTMCell(I, H, rng=np.random.default_rng(3), dtype=np.float64)
x1, h_prev, c_prev = (rng.standard_normal((B, n)) for n in (I, H, H))
zg = x1 @ lstm_cell.W_x.data + h_prev @ lstm_cell.W_h.data + lstm_cell.b.data  # (B, 4H)
i, f, g, o = (zg[:, k * H : (k + 1) * H] for k in range(4))  # (B, H) each
i, f, o = (F.sigmoid(Tensor(a)).data for a in (i, f, o))
c_new = f * c_prev + i * np.tanh(g)
h_new, c_out = lstm_cell(Tensor(x1), (Tensor(h_prev), Tensor(c_prev)))
assert np.allclose(c_out.data, c_new) and np.allclose(h_new.data, o * np.tanh(c_new))
print("LSTM step matches the gate equations; mean forget gate at init:", f.mean().round(3))

# %% [markdown]
# **GRU** (Cho et al. 2014), in PyTorch's formulation, gates in the order $r, z, n$:
# $$r = \sigma(x W_{xr} + b_{xr} + h W_{hr} + b_{hr}),\quad
#   z = \sigma(x W_{xz} + b_{xz} + h W_{hz} + b_{hz})$$
# $$n = \tanh\big(x W_{xn} + b_{xn} + r \odot (h W_{hn} + b_{hn})\big), \qquad
#   h_t = (1 - z) \odot n + z \odot h_{t-1}$$
# (Cho et al. apply $r$ before the matrix, $(r \odot h) W_{hn}$; PyTorch and we apply it after.)
# The update gate $z$ interpolates between keeping $h_{t-1}$ and writing the candidate $n$.

# %%
gru_cell = GRUCell(I, H, rng=np.random.default_rng(4), dtype=np.float64)
gx = x1 @ gru_cell.W_x.data + gru_cell.b_x.data  # (B, 3H)
gh = h_prev @ gru_cell.W_h.data + gru_cell.b_h.data  # (B, 3H)
r = F.sigmoid(Tensor(gx[:, :H] + gh[:, :H])).data
zu = F.sigmoid(Tensor(gx[:, H : 2 * H] + gh[:, H : 2 * H])).data
n = np.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
assert np.allclose(gru_cell(Tensor(x1), Tensor(h_prev)).data, (1 - zu) * n + zu * h_prev)
print("GRU step matches the gate equations")

# %% [markdown]
# ## 4. Vanishing gradients, and attention's direct paths
#
# Take a sequence of $T$ random vectors, run it through a layer, and put a loss on the **last**
# output only: $L = \langle y_T, g \rangle$ for a fixed random $g$. How strongly does $L$ depend
# on the input $d$ steps earlier? We plot $\lVert \partial L / \partial x_{T-d} \rVert$ against
# the distance $d$.
#
# * **RNN**: the gradient passes through $d$ Jacobians $\mathrm{diag}(1-h^2) W_{hh}^\top$, each a
#   contraction here, so it shrinks geometrically.
# * **LSTM**: the cell-state path multiplies by the forget gate $f$ at each step. At PyTorch's
#   init $f \approx \sigma(0) = 0.5$ and it also shrinks; with a forget-gate bias of 3
#   ($f \approx 0.95$, what training learns when it needs long memories) it barely decays.
# * **Causal self-attention** (`minillm.nn.MultiHeadAttention`, F5/F19): the last position
#   attends to every earlier one directly, one step in the graph whatever the distance, so the
#   gradient does not decay at all.

# %%
from minillm.nn import GRU, LSTM, MultiHeadAttention

C = 16  # width of inputs and states
x_seq = np.random.default_rng(5).standard_normal((1, T_GRAD, C))  # (1, T, C)
g_out = np.random.default_rng(6).standard_normal(C)  # (C,)
layers = {
    "RNN (tanh)": lambda x: RNN(C, C, rng=np.random.default_rng(7), dtype=np.float64)(x)[0],
    "GRU": lambda x: GRU(C, C, rng=np.random.default_rng(7), dtype=np.float64)(x)[0],
    "LSTM": lambda x: LSTM(C, C, rng=np.random.default_rng(7), dtype=np.float64)(x)[0],
    "LSTM, forget bias 3": lambda x: LSTM(
        C, C, forget_bias=3.0, rng=np.random.default_rng(7), dtype=np.float64
    )(x)[0],
    "causal self-attention": lambda x: MultiHeadAttention(C, 2, rng=np.random.default_rng(7))(
        x, is_causal=True
    ),
}
grad_norm = {}
for name, layer in layers.items():
    xs = Tensor(x_seq.copy(), requires_grad=True)
    y = layer(xs)  # (1, T, C)
    (y[0, -1] * g_out).sum().backward()  # L = <y_T, g>
    grad_norm[name] = np.linalg.norm(xs.grad[0], axis=-1)[::-1]  # index d = distance T - t

dist = np.arange(T_GRAD)
plt.figure(figsize=(7, 4))
for name, gn in grad_norm.items():
    plt.semilogy(dist, gn, label=name)
plt.xlabel("distance d = T - t (steps back from the loss)")
plt.ylabel(r"$\|\partial L / \partial x_{T-d}\|$")
plt.title("Gradient reaching earlier inputs")
plt.legend()
plt.tight_layout()
plt.show()

far = T_GRAD - 1
for name, gn in grad_norm.items():
    print(f"{name:22s} |dL/dx| at d=1: {gn[1]:.1e}   at d={far}: {gn[far]:.1e}")
assert grad_norm["RNN (tanh)"][far] < 1e-8 * grad_norm["RNN (tanh)"][0]  # vanished
assert grad_norm["LSTM, forget bias 3"][far] > 1e-2 * grad_norm["LSTM, forget bias 3"][0]
near, far_half = slice(1, T_GRAD // 2), slice(T_GRAD // 2, T_GRAD)  # d = 1..T/2-1, T/2..T-1
decay = {k: np.median(gn[far_half]) / np.median(gn[near]) for k, gn in grad_norm.items()}
print("median |dL/dx| far half / near half:", {k: f"{v:.1e}" for k, v in decay.items()})
assert decay["RNN (tanh)"] < 1e-6
assert decay["causal self-attention"] > 0.5  # no decay: a direct path to every earlier token

# %% [markdown]
# ## 5. An RNN language model on Shakespeare
#
# `minillm.models.RNNLM` chains the pieces: embedding $x_t = E[y_t]$, a recurrent layer (F2 or
# C11), and the F3 output layer; the loss is the mean of $-\log p(y_{t+1} \mid y_{\le t})$ over
# all positions (F9). Like every model in `minillm.models` it is built from a config,
# `RNNLM(RNNLMConfig(vocab_size, d_model, n_layers, cell, ...), seed)`, and its interface is the
# GPT's, `model(idx, targets) -> (logits, loss)`, where the "logits" are already the
# log-probabilities. We train a one-layer LSTM on characters with AdamW.

# %%
from minillm.data import CharTokenizer, Corpus, load_text
from minillm.models import RNNLM, RNNLMConfig
from minillm.optim import AdamW

text = load_text("shakespeare")
tok = CharTokenizer.from_text(text)
corpus = Corpus.from_text(text, tok)
config = RNNLMConfig(vocab_size=tok.vocab_size, d_model=HIDDEN, n_layers=1, cell="lstm")
model = RNNLM(config, seed=8)
opt = AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
batch_rng = np.random.default_rng(9)
losses = []
for _ in range(TRAIN_STEPS):
    xb, yb = corpus.get_batch("train", 16, 64, batch_rng)  # (B, T) each
    _, loss = model(xb, yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())

plt.figure(figsize=(6, 3))
plt.plot(losses)
plt.axhline(np.log(tok.vocab_size), ls="--", c="gray", label="ln V (uniform guess)")
plt.xlabel("step")
plt.ylabel("train loss (nats/char)")
plt.legend()
plt.tight_layout()
plt.show()
print(f"vocab {tok.vocab_size}, params {model.num_params():,}")
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
assert abs(losses[0] - np.log(tok.vocab_size)) < 0.5  # starts near the uniform guess
assert losses[-1] < losses[0] - 0.5

# %% [markdown]
# The final state `h_n` can be fed back as `h0`, so the model reads one character at a time and
# continues where it stopped: sampling from $p(y_{t+1} \mid y_{\le t}) = \exp(\text{logits})$.

# %%
model.eval()
ids = tok.encode("ROMEO:")[None, :]  # (1, T0)
logits, _, state = model(ids, return_state=True)
sample_rng = np.random.default_rng(10)
out = list(ids[0])
for _ in range(120 if not SMALL else 40):
    p = np.exp(logits.data[0, -1])  # (V,) F3 probabilities of the next character
    nxt = int(sample_rng.choice(tok.vocab_size, p=p / p.sum()))
    out.append(nxt)
    logits, _, state = model(np.array([[nxt]]), h0=state, return_state=True)
print(tok.decode(out))
assert len(out) > ids.shape[1]
