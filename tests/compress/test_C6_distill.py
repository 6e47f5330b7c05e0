"""C6 distillation: the loss equals its equation written with the primitives, its hand-written
backward passes a float64 gradcheck and equals autograd, alpha picks the two terms apart, and a
distillation run moves the student towards the teacher."""

import numpy as np
import pytest
from compress_tiny import batch, corpus, tiny_gpt

import minillm.functional as F
from minillm.compress import (
    FitConfig,
    distill,
    distillation_loss,
    distillation_loss_forward,
    eval_loss,
    fit,
)
from minillm.tensor import Tensor, gradcheck, no_grad


def _data(seed=0, N=7, V=5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, V, N)
    y[2] = -100  # an ignored position
    return rng.normal(size=(N, V)) * 2, rng.normal(size=(N, V)) * 2, y


def _autograd_loss(z_s, z_t, y, alpha, tau):
    """alpha tau^2 KL(p_t || p_s^tau) + (1 - alpha) CE, built from F and Tensor primitives."""
    valid = y != -100
    log_pt = F.log_softmax(Tensor(z_t / tau), dim=-1).numpy()  # (N, V) constant
    log_ps_tau = F.log_softmax(z_s * (1.0 / tau), dim=-1)  # (N, V)
    kl = (Tensor(np.exp(log_pt)) * (Tensor(log_pt) - log_ps_tau)).sum(dim=-1)  # (N,)
    ce = -F.log_softmax(z_s, dim=-1)[np.arange(len(y)), np.where(valid, y, 0)]  # (N,)
    per_row = (kl * (alpha * tau**2) + ce * (1 - alpha)) * Tensor(valid.astype(np.float64))
    return per_row.sum() * (1.0 / valid.sum())


@pytest.mark.parametrize("alpha,tau", [(0.5, 2.0), (0.9, 4.0), (0.0, 1.0), (1.0, 0.5)])
def test_C6_distillation_loss_matches_autograd_over_primitives(alpha, tau):
    z_s, z_t, y = _data()
    a = Tensor(z_s.copy(), requires_grad=True)
    b = Tensor(z_s.copy(), requires_grad=True)
    ours = distillation_loss(a, z_t, y, alpha, tau)
    ref = _autograd_loss(b, z_t, y, alpha, tau)
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-12)
    ours.backward()
    ref.backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-13)
    assert np.all(a.grad[2] == 0)  # the ignored row


def test_C6_distillation_loss_gradcheck_float64():
    z_s, z_t, y = _data(1)
    x = Tensor(z_s, requires_grad=True)
    assert gradcheck(lambda t: distillation_loss(t, z_t, y, 0.7, 3.0), x)


def test_C6_alpha_zero_is_cross_entropy_and_alpha_one_is_tau_squared_kl():
    z_s, z_t, y = _data(2)
    ce = F.cross_entropy(Tensor(z_s), y).item()
    np.testing.assert_allclose(distillation_loss_forward(z_s, z_t, y, 0.0, 3.0)[0], ce, rtol=1e-12)
    p = np.exp(z_t / 3) / np.exp(z_t / 3).sum(1, keepdims=True)  # a naive loop-free reference
    q = np.exp(z_s / 3) / np.exp(z_s / 3).sum(1, keepdims=True)
    kl = [(p[n] * np.log(p[n] / q[n])).sum() for n in range(7) if y[n] != -100]
    np.testing.assert_allclose(distillation_loss_forward(z_s, z_t, y, 1.0, 3.0)[0],
                               9 * np.mean(kl), rtol=1e-10)  # fmt: skip
    assert distillation_loss_forward(z_t, z_t, y, 1.0, 3.0)[0] < 1e-12  # student = teacher


def test_C6_bad_alpha_tau_or_vocabularies_are_clear_errors():
    z_s, z_t, y = _data()
    with pytest.raises(ValueError, match="0 <= alpha <= 1 and tau > 0"):
        distillation_loss_forward(z_s, z_t, y, 1.5, 2.0)
    with pytest.raises(ValueError, match="0 <= alpha <= 1 and tau > 0"):
        distillation_loss_forward(z_s, z_t, y, 0.5, 0.0)
    teacher = tiny_gpt()
    with pytest.raises(ValueError, match="vocabulary"):
        distill(teacher, tiny_gpt(vocab_size=30), corpus())


def test_C6_distilling_pulls_the_student_towards_the_teacher():
    data = corpus()
    teacher = tiny_gpt(seed=1)
    fit(teacher, data, FitConfig(steps=40, batch_size=8, lr=1e-2, warmup=0))
    student = tiny_gpt(seed=2, n_layers=1, d_model=12)
    x, _ = batch(5, B=4)

    def gap():
        with no_grad():
            pt = F.softmax(teacher(x)[0], dim=-1).numpy()
            ps = F.log_softmax(student(x)[0], dim=-1).numpy()
        return float((pt * (np.log(pt) - ps)).sum(-1).mean())  # KL(teacher || student)

    before = gap()
    losses = distill(teacher, student, data, FitConfig(steps=25, batch_size=8, lr=1e-2), 1.0, 1.0)
    assert len(losses) == 25 and losses[-1] < losses[0]
    assert gap() < 0.5 * before
    assert np.isfinite(eval_loss(student, data.val))
