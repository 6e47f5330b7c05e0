"""Dynamic loss scaling for float16 training (C23; Micikevicius et al. 2018, section 3.2), with
PyTorch's GradScaler names and defaults: scale, unscale_, step, update.

float16 holds magnitudes from 2^-24 ~ 6.0e-8 (its smallest subnormal) to 65504. Many of a
network's activation gradients lie below 2^-24; in float16 they round to 0 and the weights they
feed stop learning. The chain rule is linear in the seed gradient, so backpropagating S * loss
multiplies every gradient by S and lifts them into float16's range; the optimizer then gets them
divided by S again, in float32 (the master weights' precision).

S is found as training goes (dynamic scaling):
- a step whose gradients hold an inf or a nan (S too large: something overflowed 65504) is
  skipped, leaving the weights and the optimizer state untouched, and S is halved;
- after growth_interval clean steps in a row, S is doubled.
So S settles near the largest value that does not overflow, probing upwards now and then.

    scaler = GradScaler()
    scaler.scale(loss).backward()      # gradients of S * loss
    scaler.unscale_(optimizer)         # optional: gradients / S now (to clip them), inf check
    clip_grad_norm_(params, 1.0)
    scaler.step(optimizer)             # optimizer.step(), unless an inf/nan was found
    scaler.update()                    # halve S after an overflow, double it after N clean steps

With enabled=False every method passes through (scale(loss) is loss, step is optimizer.step()),
so one training loop serves float32, bfloat16 (whose float32-wide exponent needs no scaling) and
float16.
"""

from minillm.tensor.backend import array_module

_FLOAT32_MAX = float.fromhex("0x1.fffffep+127")  # S stays a float32 number


class GradScaler:
    """PyTorch's torch.amp.GradScaler on minillm's optimizers, one scale for all of them."""

    def __init__(
        self,
        init_scale=2.0**16,
        growth_factor=2.0,
        backoff_factor=0.5,
        growth_interval=2000,
        enabled=True,
    ):
        if not (init_scale > 0 and growth_factor > 1 and 0 < backoff_factor < 1):
            raise ValueError(
                f"GradScaler: need init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1; got "
                f"{init_scale}, {growth_factor}, {backoff_factor}"
            )
        if not (isinstance(growth_interval, int) and growth_interval >= 1):
            raise ValueError(f"GradScaler: growth_interval must be an int >= 1: {growth_interval}")
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0  # clean steps in a row since the last change of scale
        self._found_inf = {}  # id(optimizer) -> whether its gradients held inf/nan this step

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current S (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_tracker(self) -> int:
        return self._growth_tracker

    def scale(self, loss):
        """loss * S (a Tensor or a number): backpropagate this instead of the loss."""
        return loss * self._scale if self._enabled else loss

    def unscale_(self, optimizer) -> None:
        """Divide the gradients of optimizer's parameters by S, in place, and note whether any
        is inf or nan. Once per optimizer between update() calls (RuntimeError otherwise)."""
        if not self._enabled:
            return
        if id(optimizer) in self._found_inf:
            raise RuntimeError(
                "GradScaler.unscale_() has already been called on this optimizer since the last "
                "update()"
            )
        inv_scale = 1.0 / self._scale  # exact: S is a power of 2 with the default factors
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad *= inv_scale
                found_inf = found_inf or not bool(array_module(p.grad).isfinite(p.grad).all())
        self._found_inf[id(optimizer)] = found_inf

    def step(self, optimizer):
        """optimizer.step() on unscaled gradients (unscale_ first if the caller did not), or
        nothing when they hold inf or nan: the skipped step leaves the weights and the optimizer
        state (moments, step counts) exactly as they were. Returns optimizer.step()'s result,
        or None when skipped."""
        if not self._enabled:
            return optimizer.step()
        if id(optimizer) not in self._found_inf:
            self.unscale_(optimizer)
        if self._found_inf[id(optimizer)]:
            return None
        return optimizer.step()

    def update(self) -> None:
        """After each step: halve S if any optimizer's gradients overflowed (and restart the
        count), else count a clean step and double S after growth_interval of them."""
        if not self._enabled:
            return
        if not self._found_inf:
            raise RuntimeError("GradScaler.update(): no step() or unscale_() since the last update")
        if any(self._found_inf.values()):
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                self._scale = min(self._scale * self._growth_factor, _FLOAT32_MAX)
                self._growth_tracker = 0
        self._found_inf = {}

    def state_dict(self) -> dict:
        """Plain numbers (saved in checkpoint.json), PyTorch's keys."""
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state: dict) -> None:
        if not self._enabled:
            return
        if not state:
            raise RuntimeError("GradScaler.load_state_dict: the state is empty (a disabled scaler)")
        self._scale = float(state["scale"])
        self._growth_factor = float(state["growth_factor"])
        self._backoff_factor = float(state["backoff_factor"])
        self._growth_interval = int(state["growth_interval"])
        self._growth_tracker = int(state["_growth_tracker"])
