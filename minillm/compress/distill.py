"""Knowledge distillation (C6; Hinton, Vinyals & Dean 2015): a student learns from a teacher's
softened output distribution as well as from the data.

    p_t = softmax(z_t / tau),  p_s^tau = softmax(z_s / tau),  p_s = softmax(z_s)
    L   = alpha * tau^2 * (1/N) sum_n KL(p_t,n || p_s,n^tau) + (1 - alpha) * (1/N) sum_n CE_n
    CE_n = -log p_s,n[y_n]
    KL(p || q) = sum_v p_v (log p_v - log q_v)
The tau^2 keeps the soft term's gradient the same size as tau changes: its gradient is
    dL/dz_s = alpha * tau * (p_s^tau - p_t) / N  +  (1 - alpha) * (p_s - onehot(y)) / N.
N counts the positions whose target is not ignore_index (-100); ignored rows add nothing.
"""

import numpy as np

from ..ops import softmax as _sm
from ..tensor import Tensor, no_grad
from .loop import FitConfig, fit


def distillation_loss_forward(z_s, z_t, y, alpha=0.5, tau=2.0, ignore_index=-100):
    """L above. z_s, z_t (N, V) float, y (N,) ints -> (0-d loss, cache)."""
    if not 0.0 <= alpha <= 1.0 or not tau > 0:
        raise ValueError(f"distillation_loss: need 0 <= alpha <= 1 and tau > 0, got {alpha}, {tau}")
    if z_s.shape != z_t.shape or z_s.ndim != 2 or y.shape != z_s.shape[:1]:
        raise ValueError(
            f"distillation_loss: expected z_s, z_t (N, V) and y (N,), got {z_s.shape}, "
            f"{z_t.shape}, {y.shape}"
        )
    valid = y != ignore_index  # (N,)
    n = max(int(valid.sum()), 1)
    safe = np.where(valid, y, 0)  # (N,)
    log_pt, _ = _sm.log_softmax_forward(z_t / tau)  # (N, V)
    log_ps_tau, _ = _sm.log_softmax_forward(z_s / tau)  # (N, V)
    log_ps, _ = _sm.log_softmax_forward(z_s)  # (N, V)
    p_t = np.exp(log_pt)  # (N, V)
    kl = (p_t * (log_pt - log_ps_tau)).sum(axis=1)  # (N,)
    ce = -log_ps[np.arange(len(y)), safe]  # (N,)
    loss = ((alpha * tau**2 * kl + (1 - alpha) * ce) * valid).sum() / n
    cache = (np.exp(log_ps_tau), p_t, np.exp(log_ps), safe, valid, n, alpha, tau)
    return np.asarray(loss, dtype=z_s.dtype), cache  # 0-d


def distillation_loss_backward(dloss, cache):
    """dz_s = dL * [alpha * tau * (p_s^tau - p_t) + (1 - alpha) * (p_s - onehot(y))] / N on the
    valid rows:
    (1) d(tau^2 KL)/dz_s = tau^2 * (p_s^tau - p_t) / tau     (log-softmax of z_s / tau)
    (2) dCE/dz_s         = p_s - onehot(y)"""
    ps_tau, p_t, p_s, safe, valid, n, alpha, tau = cache
    soft = alpha * tau * (ps_tau - p_t)  # (1) (N, V)
    hard = (1 - alpha) * p_s  # (2) (N, V)
    hard[np.arange(len(safe)), safe] -= 1 - alpha  # (2) minus onehot(y), (N, V)
    return (dloss / n) * (soft + hard) * valid[:, None]  # (N, V)


def distillation_loss(student_logits: Tensor, teacher_logits, targets, alpha=0.5, tau=2.0,
                      ignore_index=-100) -> Tensor:  # fmt: skip
    """The loss above as a Tensor op; gradients reach the student's logits only. Logits
    (..., V) are flattened to (N, V), targets (...) to (N,)."""
    V = student_logits.shape[-1]
    z_t = teacher_logits.data if isinstance(teacher_logits, Tensor) else teacher_logits
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets).reshape(-1)  # (N,)
    z_s = student_logits.reshape(-1, V)  # (..., V) -> (N, V)
    loss, cache = distillation_loss_forward(z_s.data, z_t.reshape(-1, V), y, alpha, tau,
                                            ignore_index)  # fmt: skip
    back = lambda d: (distillation_loss_backward(d, cache),)  # noqa: E731
    return Tensor.from_op(loss, (z_s,), back, "distillation_loss")


def distill(teacher, student, corpus, cfg: FitConfig | None = None, alpha=0.5, tau=2.0,
            callback=None) -> list:  # fmt: skip
    """Train `student` on corpus.train windows with the distillation loss against the frozen
    `teacher`'s logits (computed without a graph, in eval mode); return the step losses. Both
    models must share the vocabulary; the student's context is the window size."""
    if teacher.config.vocab_size != student.config.vocab_size:
        raise ValueError(
            f"distill: teacher vocabulary {teacher.config.vocab_size} != student vocabulary "
            f"{student.config.vocab_size}"
        )
    teacher.eval()

    def loss_fn(model, x, y):
        with no_grad():
            z_t = teacher(x)[0].data  # (B, T, V)
        z_s = model(x)[0]  # (B, T, V)
        return distillation_loss(z_s, z_t, y, alpha, tau)

    return fit(student, corpus, cfg or FitConfig(), loss_fn, callback)
