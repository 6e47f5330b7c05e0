"""Continual learning (C18): learning task B after task A without forgetting A.

Fine-tuning on B alone moves the weights wherever B's loss wants them, and A's performance falls
("catastrophic forgetting", McCloskey & Cohen 1989). Two remedies:

Rehearsal (a replay buffer): keep some of A's examples and mix them into B's batches, so the
loss keeps a term for A:   L = L_B(batch_B) + L_A(replayed rows)  (one mixed batch).

Elastic weight consolidation (Kirkpatrick et al. 2017): after A, remember theta*_A and how much
each weight mattered to A, the diagonal of the Fisher information F_i, and train B with

    L(theta) = L_B(theta) + (lambda / 2) sum_i F_i (theta_i - theta*_A,i)^2

    F_i ~= (1/N) sum_n (d log p(x_n; theta) / d theta_i)^2 at theta*_A   (the empirical Fisher)

so weights that A's likelihood is sensitive to are held near their A values, and the others are
free for B. Deviation: the paper samples the targets from the model; we use the data's own
targets (the "empirical" Fisher, as most implementations) and one gradient per sequence of A,
each the gradient of that sequence's mean token loss.
"""

import numpy as np

from ..tensor import Tensor


def fisher_diagonal(model, examples) -> dict:
    """{name: F (same shape as the parameter)} over the trainable parameters: the mean over
    `examples` (an iterable of (inputs tuple, targets) of one sequence each) of the squared
    gradient of the example's loss (the empirical Fisher's diagonal)."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    fisher = {n: np.zeros(p.shape, dtype=np.float64) for n, p in params}
    was_training, count = model.training, 0
    model.eval()  # the Fisher of the model as it predicts: no dropout
    try:
        for x, y in examples:
            model.zero_grad()
            model(*x, y)[1].backward()
            for n, p in params:
                if p.grad is not None:
                    fisher[n] += np.asarray(p.grad, dtype=np.float64) ** 2
            count += 1
    finally:
        model.zero_grad()
        model.train(was_training)
    if count == 0:
        raise ValueError("fisher_diagonal: no examples")
    return {n: f / count for n, f in fisher.items()}


class EWC:
    """The EWC penalty (lambda / 2) sum_i F_i (theta_i - theta*_i)^2 around the weights the model
    has now (theta*, task A's) with the Fisher diagonal `fisher` (fisher_diagonal). Call the
    object on the model to get the penalty as a Tensor (train_steps(..., penalty=ewc))."""

    def __init__(self, model, fisher: dict, lam: float):
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0:
            raise ValueError(f"EWC: lambda must be a number >= 0, got {lam!r}")
        self.lam = float(lam)
        own = dict(model.named_parameters())
        unknown = sorted(set(fisher) - set(own))
        if unknown:
            raise ValueError(f"EWC: the Fisher names parameters the model lacks: {unknown[:5]}")
        self.anchors = {n: (own[n].data.copy(), f.astype(own[n].dtype)) for n, f in fisher.items()}

    def __call__(self, model) -> Tensor:
        own = dict(model.named_parameters())
        total = None
        for n, (star, f) in self.anchors.items():
            d = own[n] - Tensor(star)  # theta - theta*, same shape as the parameter
            term = (d * d * Tensor(f)).sum()  # sum_i F_i (theta_i - theta*_i)^2
            total = term if total is None else total + term
        return total * (0.5 * self.lam)


def replay_batches(batches_b, buffer_a, share: float, seed: int = 0):
    """Rehearsal: each batch of B gets round(share * B) rows drawn from the replay buffer of A
    (a list of (inputs tuple, targets) single-example rows of the same shape), appended along
    the batch axis. Yields endlessly as `batches_b` does."""
    if not 0 < share < 1:
        raise ValueError(f"replay_batches: share must be in (0, 1), got {share!r}")
    rng = np.random.default_rng([seed, 8])
    for x, y in batches_b:
        n = max(1, round(share * len(y)))
        rows = [buffer_a[i] for i in rng.choice(len(buffer_a), size=n, replace=False)]
        xs = tuple(np.concatenate([a, *(r[0][j] for r in rows)]) for j, a in enumerate(x))
        yield xs, np.concatenate([y, *(r[1] for r in rows)])


def single_examples(task, n: int, seed: int = 0) -> list:
    """n single-example batches ((x[None],), y[None]) of a task's training split, drawn at random
    (a replay buffer, or the examples of the Fisher)."""
    rng = np.random.default_rng([seed, 9])
    rows = rng.choice(task.size("train"), size=min(n, task.size("train")), replace=False)
    return [task.batch([r]) for r in rows]
