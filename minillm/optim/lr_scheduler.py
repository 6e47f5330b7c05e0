"""Learning-rate schedule: linear warm-up, then cosine decay to a floor (nanoGPT's get_lr)."""

import math
import numbers


def warmup_cosine_lr(step, max_lr, min_lr, warmup_iters, decay_iters):
    """The learning rate at iteration `step` (0-based), exactly nanoGPT's `get_lr` (C21).

        lr = max_lr * (step + 1) / (warmup_iters + 1)                  step < warmup_iters
        lr = min_lr + 0.5 * (1 + cos(pi * r)) * (max_lr - min_lr),     warmup_iters <= step
             r = (step - warmup_iters) / (decay_iters - warmup_iters)    <= decay_iters
        lr = min_lr                                                     step > decay_iters

    Source: karpathy/nanoGPT train.py, `get_lr(it)` (commit e2221318), with it = step,
    learning_rate = max_lr, lr_decay_iters = decay_iters. The warm-up never starts at 0 (step 0
    gets max_lr / (warmup_iters + 1)) and reaches max_lr at step == warmup_iters, where the cosine
    begins; the cosine ends at min_lr at step == decay_iters.

    Deviation: nanoGPT divides by zero when decay_iters == warmup_iters; here decay_iters must be
    larger than warmup_iters (ValueError otherwise).
    """
    if warmup_iters < 0:
        raise ValueError(f"warmup_iters={warmup_iters} must be >= 0")
    if decay_iters <= warmup_iters:
        raise ValueError(
            f"decay_iters={decay_iters} must be larger than warmup_iters={warmup_iters}"
        )
    if step < 0:
        raise ValueError(f"step={step} must be >= 0")
    if step < warmup_iters:
        return max_lr * (step + 1) / (warmup_iters + 1)
    if step > decay_iters:
        return min_lr
    decay_ratio = (step - warmup_iters) / (decay_iters - warmup_iters)  # in [0, 1]
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # 1 -> 0
    return min_lr + coeff * (max_lr - min_lr)


class WarmupCosineLR:
    """Sets every group's "lr" to the warm-up + cosine schedule, `warmup_cosine_lr`, each step.

    Each group's base lr (its "lr" when the scheduler is made, kept in the group as "initial_lr"
    so a resumed run finds it) plays max_lr. `min_lr` is the floor of the group with the largest
    base lr; the other groups' floors scale with their base lr (min_lr * base / largest base), so
    all groups follow the same curve, shifted by a constant factor.

    Use: make it after the optimizer (this sets the step-0 lr), and call `scheduler.step()` after
    each `optimizer.step()`, as in PyTorch. Step k of the optimizer then runs with
    `warmup_cosine_lr(k, ...)`, as in nanoGPT's loop.
    """

    def __init__(self, optimizer, warmup_iters, decay_iters, min_lr):
        for name, n in (("warmup_iters", warmup_iters), ("decay_iters", decay_iters)):
            if isinstance(n, bool) or not isinstance(n, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {n!r}")
        if isinstance(min_lr, bool) or not isinstance(min_lr, numbers.Real):
            raise TypeError(f"min_lr must be a number, got {min_lr!r}")
        if warmup_iters < 0:
            raise ValueError(f"warmup_iters={warmup_iters} must be >= 0")
        if decay_iters <= warmup_iters:
            raise ValueError(
                f"decay_iters={decay_iters} must be larger than warmup_iters={warmup_iters}"
            )
        base_lrs = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        if not 0.0 <= min_lr <= max(base_lrs):  # checked before the groups are touched
            raise ValueError(
                f"min_lr={min_lr} must lie in [0, {max(base_lrs)}] (the largest base lr of the "
                "groups)"
            )
        self.optimizer = optimizer
        self.warmup_iters = warmup_iters
        self.decay_iters = decay_iters
        self.min_lr = min_lr
        self.base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in optimizer.param_groups]
        self.last_step = 0
        self._last_lr = []
        self._apply()

    def _lrs(self, step):
        largest = max(self.base_lrs)
        lrs = []
        for base in self.base_lrs:
            scale = base / largest if largest > 0 else 0.0  # 1.0 exactly for the largest group
            lr = warmup_cosine_lr(
                step, base, self.min_lr * scale, self.warmup_iters, self.decay_iters
            )
            lrs.append(lr)
        return lrs

    def _apply(self):
        self._last_lr = self._lrs(self.last_step)
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr

    def step(self):
        """Advance one iteration and set the groups' lr for it."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self):
        """The lr of each group, as last set."""
        return list(self._last_lr)

    def state_dict(self):
        """Plain Python numbers: the step and the schedule's settings."""
        return {
            "last_step": self.last_step,
            "base_lrs": list(self.base_lrs),
            "warmup_iters": self.warmup_iters,
            "decay_iters": self.decay_iters,
            "min_lr": self.min_lr,
        }

    def load_state_dict(self, state_dict):
        """Restore from `state_dict()` output and set the groups' lr for the restored step."""
        keys = ("last_step", "base_lrs", "warmup_iters", "decay_iters", "min_lr")
        missing = [k for k in keys if k not in state_dict]
        if missing:
            raise ValueError(f"scheduler state_dict lacks keys {missing}")
        n_groups = len(self.optimizer.param_groups)
        if len(state_dict["base_lrs"]) != n_groups:
            raise ValueError(
                f"scheduler state_dict has {len(state_dict['base_lrs'])} base lrs, the optimizer "
                f"has {n_groups} parameter groups"
            )
        for k in keys:
            setattr(self, k, state_dict[k])
        self.base_lrs = list(self.base_lrs)
        self._apply()
