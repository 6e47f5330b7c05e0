"""Walking a Module tree: named modules, parameters and buffers, surgery by path, freezing,
parameter roles and the random generators of dropout (the tree half of nn.Module)."""

import numpy as np


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class TreeMixin:
    """Methods of Module that walk `_modules`, `_params` and `_buffers` (PyTorch's names)."""

    # ---- walking the tree -------------------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True, _memo=None):
        """(path, module) for this module and every descendant, parents first, in registration
        order. A module reached twice (shared by two parents) is listed once unless
        remove_duplicate=False."""
        memo = set() if _memo is None else _memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(_join(prefix, name), remove_duplicate, memo)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, table, prefix, recurse, remove_duplicate):
        seen = set()
        walk = self.named_modules(prefix) if recurse else [(prefix, self)]
        for path, m in walk:
            for name, value in getattr(m, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield _join(path, name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate=True):
        """(name, Parameter) pairs; a tied Parameter is listed once, under its first name.
        recurse=False lists this module's own parameters only."""
        return self._named_members("_params", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate=True):
        """(name, array) pairs of the registered buffers (persistent or not)."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        return [b for _, b in self.named_buffers(recurse=recurse)]

    def apply(self, fn):
        """Call fn(module) on every descendant, then on self (PyTorch's order); return self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- surgery by path --------------------------------------------------------------------
    def get_submodule(self, target: str):
        """The module at a dotted path ("blocks.0.self_attn.W_q"); "" is self. AttributeError
        naming the first part of the path that is not a sub-module."""
        if target == "":
            return self
        m = self
        done = []
        for part in target.split("."):
            child = m._modules.get(part)
            if child is None:
                where = ".".join(done) or type(self).__name__
                raise AttributeError(
                    f"get_submodule: {where!r} has no sub-module {part!r} (path {target!r}); "
                    f"its sub-modules: {[n for n, _ in m.named_children()]}"
                )
            m = child
            done.append(part)
        return m

    def set_submodule(self, target: str, module) -> None:
        """Replace the module at a dotted path; the new one takes the old one's position."""
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if name not in parent._modules:
            raise AttributeError(
                f"set_submodule: {parent_path or type(self).__name__!r} has no sub-module "
                f"{name!r} to replace (path {target!r})"
            )
        setattr(parent, name, module)

    def get_parameter(self, target: str):
        """The Parameter at a dotted path ("blocks.0.ff.W_1.W")."""
        path, _, name = target.rpartition(".")
        m = self.get_submodule(path)
        if m._params.get(name) is None:
            raise AttributeError(f"get_parameter: no parameter {name!r} in {path!r} ({target!r})")
        return m._params[name]

    # ---- freezing and counting --------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True):
        """Freeze (False) or unfreeze every parameter of this module and its descendants. Frozen
        parameters get no .grad and the training loop leaves them out of the optimizer."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def trainable_parameters(self):
        """The parameters with requires_grad=True, in named_parameters order."""
        return [p for p in self.parameters() if p.requires_grad]

    def num_params(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (a tied weight counted once)."""
        params = self.trainable_parameters() if trainable_only else self.parameters()
        return sum(p.size for p in params)

    def parameter_counts(self) -> dict:
        """{"trainable": n, "frozen": n, "total": n} scalar parameters (tied weights once)."""
        trainable = sum(p.size for p in self.trainable_parameters())
        total = sum(p.size for p in self.parameters())  # every parameter (GPT.num_params skips wpe)
        return {"trainable": trainable, "frozen": total - trainable, "total": total}

    def named_parameter_roles(self):
        """(name, Parameter, role) for every parameter; the role comes from the module that owns
        it (Module.PARAM_ROLES): "weight", "bias", "embedding" or "norm"."""
        seen = set()
        for path, m in self.named_modules():
            for name, p in m._params.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield _join(path, name), p, m.param_role(name)

    # ---- random generators (dropout) --------------------------------------------------------
    def _generators(self):
        for path, m in self.named_modules():
            rng = m.__dict__.get("rng")
            if isinstance(rng, np.random.Generator):
                yield path, m

    def rng_states(self) -> dict:
        """path -> bit_generator.state of every module that owns a generator (`self.rng`, as
        Dropout does): saved in checkpoints so a resumed run drops the same units."""
        return {path: m.rng.bit_generator.state for path, m in self._generators()}

    def set_rng_states(self, states: dict) -> None:
        """Restore generator states saved by rng_states(); KeyError naming a missing path."""
        own = dict(self._generators())
        missing = sorted(set(own) - set(states))
        unexpected = sorted(set(states) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"set_rng_states: missing generators {missing}, unexpected generators {unexpected}"
            )
        for path, m in own.items():
            m.rng.bit_generator.state = states[path]

    def seed_rngs(self, seed: int) -> None:
        """Give every generator-owning module its own stream, default_rng([seed, 1, i]) for the
        i-th such module in tree order (independent streams, fixed by one seed)."""
        for i, (_, m) in enumerate(self._generators()):
            m.rng = np.random.default_rng([seed, 1, i])
