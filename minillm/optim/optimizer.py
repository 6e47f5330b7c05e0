"""The optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict.

An optimizer owns `param_groups`, a list of dicts. Each dict holds "params" (a list of Tensors) and
the hyper-parameters for those parameters ("lr", "weight_decay", ...), so a scheduler can set
`group["lr"]` between steps and a model can keep, say, biases out of weight decay. `state` maps each
parameter (Tensor hashing is by identity) to a dict of its running statistics.

Updates write into `p.data` in place, so the modules that hold `p` see the new values. A parameter
whose `.grad` is None is skipped and its state is left untouched, as in PyTorch.

Deviation: a parameter listed twice (in one group or across groups) is a ValueError; PyTorch only
warns when a group repeats a parameter. A param group whose "params" is an empty generator (a
model.parameters() already consumed) warns; PyTorch accepts it silently. An empty top-level
params is a ValueError, as in PyTorch.
"""

import numbers
import types
import warnings

from minillm.tensor import Tensor
from minillm.tensor.backend import array_module, is_cupy_array


def _copy_value(v):
    """A copy of an array (NumPy or CuPy), or the plain Python value itself."""
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return v.copy()
    return v


def _array_like(v, like):
    """v (a NumPy or CuPy array) as a fresh array in like's array module and dtype."""
    xp = array_module(like)
    if xp.__name__ == "numpy" and is_cupy_array(v):
        v = v.get()  # CuPy refuses implicit device -> host copies
    return xp.array(v, dtype=like.dtype, copy=True)


class Optimizer:
    """Base class: subclasses set `defaults` and implement `_update_group(group)`.

    params: an iterable of Tensors, or of dicts `{"params": [...], "<hyper-parameter>": value}`;
    a hyper-parameter missing from a group dict is taken from `defaults`.
    """

    def __init__(self, params, defaults: dict):
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of Tensors or of param-group dicts, got a single Tensor"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                "params must be an ordered iterable (a list): a set's order changes between runs, "
                "and the state_dict numbers parameters by their order"
            )
        self.defaults = dict(defaults)
        self.state = {}  # Tensor -> dict of running statistics
        self.param_groups = []
        groups = list(params)
        if len(groups) == 0:
            hint = ""
            if isinstance(params, types.GeneratorType):  # torch's message, and why
                hint = " (an exhausted generator: pass list(model.parameters()) to reuse it)"
            raise ValueError(f"optimizer got an empty parameter list{hint}")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Append a group, filling missing hyper-parameters from `defaults` and validating them."""
        if not isinstance(group, dict):
            raise TypeError(f"a param group must be a dict, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"param group {len(self.param_groups)} has no 'params' key")
        params = group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"param group {len(self.param_groups)}: params must be a list, not a set (its "
                "order changes between runs)"
            )
        is_generator = isinstance(params, types.GeneratorType)
        params = [params] if isinstance(params, Tensor) else list(params)
        if is_generator and not params:
            warnings.warn(
                f"param group {len(self.param_groups)}: `params` is an empty generator, no "
                "parameter of this group will be updated",
                stacklevel=3,
            )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for j, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"param group {len(self.param_groups)} item {j} is a {type(p).__name__}, "
                    "not a Tensor"
                )
            if id(p) in seen:
                raise ValueError(
                    f"param group {len(self.param_groups)} item {j} (shape {p.shape}) appears "
                    "twice in the optimizer's parameters"
                )
            seen.add(id(p))
        new_group = {**self.defaults, **group, "params": params}
        self._validate_group(new_group)
        self.param_groups.append(new_group)

    def _validate_group(self, group: dict) -> None:
        """Raise ValueError for a bad hyper-parameter; subclasses add their checks. The numeric
        ones must be numbers (TypeError naming the key and the value)."""
        for key in ("lr", "momentum", "dampening", "weight_decay", "eps"):
            v = group.get(key, 0.0)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"invalid {key}={v!r}; expected a number")
        if not group["lr"] >= 0.0:
            raise ValueError(f"invalid learning rate lr={group['lr']}; expected lr >= 0")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every gradient: `p.grad = None` (the default), or fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() when given."""
        loss = None if closure is None else closure()
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update_group")

    def state_dict(self) -> dict:
        """A snapshot: {"state": {index: {key: array or number}}, "param_groups": [...]}.

        Parameters are numbered 0, 1, ... in group order, as in PyTorch; each group lists its
        indices under "params". Arrays are copies, in the parameters' array module.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {
            index[id(p)]: {k: _copy_value(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state from `state_dict()` output (copies the arrays)."""
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"optimizer state_dict has no {key!r} key")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(
                f"loaded state_dict has {len(saved)} parameter groups, the optimizer has "
                f"{len(self.param_groups)}"
            )
        params = []
        for i, (s, g) in enumerate(zip(saved, self.param_groups, strict=True)):
            if len(s["params"]) != len(g["params"]):
                raise ValueError(
                    f"loaded state_dict group {i} has {len(s['params'])} parameters, the "
                    f"optimizer's group {i} has {len(g['params'])}"
                )
            params.extend(zip(s["params"], g["params"], strict=True))
        by_index = dict(params)
        new_state = {}
        for idx, s in state_dict["state"].items():
            if idx not in by_index:
                raise ValueError(f"loaded state_dict has state for unknown parameter index {idx}")
            p = by_index[idx]
            new_state[p] = {}
            for k, v in s.items():
                if hasattr(v, "shape") and hasattr(v, "dtype"):
                    if tuple(v.shape) != tuple(p.shape):
                        raise ValueError(
                            f"loaded state_dict parameter {idx} {k!r} has shape {tuple(v.shape)}, "
                            f"the parameter has shape {tuple(p.shape)}"
                        )
                    v = _array_like(v, p.data)
                new_state[p][k] = v
        merged = [
            {**g, **{k: v for k, v in s.items() if k != "params"}, "params": g["params"]}
            for s, g in zip(saved, self.param_groups, strict=True)
        ]
        for g in merged:
            self._validate_group(g)
        for g, m in zip(self.param_groups, merged, strict=True):
            g.update(m)  # in place: a scheduler may hold these dicts
        self.state = new_state
