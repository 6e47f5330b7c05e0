"""Sequential and ModuleList: modules that hold other modules under the names "0", "1", ..."""

from .module import Module


class _Indexed(Module):
    """Children named "0", "1", ...: indexing, assignment in place, length and iteration."""

    def _key(self, i) -> str:
        n = len(self._modules)
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"{type(self).__name__} indices must be ints, got {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__} index {i} out of range for length {n}")
        return str(i % n)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        if isinstance(i, slice):
            items = list(self._modules.values())[i]
            return Sequential(*items) if isinstance(self, Sequential) else ModuleList(items)
        return self._modules[self._key(i)]

    def __setitem__(self, i, module):
        """Replace child i in place: it keeps position i (and its parameters keep theirs)."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__} holds Modules, got {type(module).__name__}")
        setattr(self, self._key(i), module)


class Sequential(_Indexed):
    """y = f_n(... f_2(f_1(x))): registered as children "0", "1", ..."""

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential holds Modules, got {type(layer).__name__} at {i}")
            setattr(self, str(i), layer)

    def append(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"Sequential holds Modules, got {type(m).__name__}")
        setattr(self, str(len(self._modules)), m)
        return self

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x


class ModuleList(_Indexed):
    """A list of modules whose parameters are registered (as "0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(m).__name__}")
        setattr(self, str(len(self._modules)), m)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self
