"""The state dict: a Module's parameters and persistent buffers by dotted name, and loading one
back (strict or not), with PyTorch's semantics and return value."""

from typing import NamedTuple

import numpy as np

from ..tensor.backend import to_device


class IncompatibleKeys(NamedTuple):
    """What load_state_dict found: keys the module has but the state lacks, and the reverse."""

    missing_keys: list
    unexpected_keys: list


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class StateMixin:
    """state_dict / load_state_dict of Module."""

    def state_dict(self, prefix: str = "") -> dict:
        """name -> array (the live arrays, not copies): every parameter, under every name a tied
        weight has, then the persistent buffers, module by module in tree order."""
        out = {}
        for path, m in self.named_modules(prefix, remove_duplicate=False):
            for name, p in m._params.items():
                if p is not None:
                    out[_join(path, name)] = p.data
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[_join(path, name)] = b
        return out

    def _state_slots(self) -> dict:
        """name -> (owning module, attribute name, is_buffer) for every state_dict entry."""
        slots = {}
        for path, m in self.named_modules(remove_duplicate=False):
            for name, p in m._params.items():
                if p is not None:
                    slots[_join(path, name)] = (m, name, False)
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    slots[_join(path, name)] = (m, name, True)
        return slots

    def load_state_dict(self, state: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers in place; return (missing_keys,
        unexpected_keys), as PyTorch.

        strict=True: any missing or unexpected key raises KeyError naming them all. A shape
        mismatch always raises ValueError naming the key and both shapes, before anything is
        copied (a failed load leaves the module unchanged). Values are cast to the parameter's
        dtype; a buffer takes the stored dtype when it is integer (int8 weights stay int8)."""
        slots = self._state_slots()
        missing = sorted(set(slots) - set(state))
        unexpected = sorted(set(state) - set(slots))
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        bad = []
        for key, (m, name, is_buffer) in slots.items():
            if key not in state:
                continue
            own = m._buffers[name] if is_buffer else m._params[name].data
            if tuple(np.shape(state[key])) != tuple(own.shape):
                bad.append(f"{key}: checkpoint {tuple(np.shape(state[key]))} vs model {own.shape}")
        if bad:
            raise ValueError("load_state_dict: shape mismatch for " + "; ".join(bad))
        for key, (m, name, is_buffer) in slots.items():
            if key not in state:
                continue
            if is_buffer:
                own = m._buffers[name]
                value = to_device(np.asarray(state[key]), _device(own))
                if value.dtype != own.dtype and not (own.dtype.kind == value.dtype.kind == "f"):
                    setattr(m, name, value.copy())  # an integer buffer keeps the stored dtype
                else:
                    own[...] = value
            else:
                p = m._params[name]
                p.data[...] = to_device(np.asarray(state[key]), p.device)
        return IncompatibleKeys(missing, unexpected)


def _device(array) -> str:
    return "cpu" if isinstance(array, np.ndarray) else "cuda"
