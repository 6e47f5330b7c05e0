"""Forward hooks: read (or change) what goes into and comes out of any module without rewriting
its forward, as PyTorch's register_forward_pre_hook / register_forward_hook.

    handle = model.blocks[0].ff.register_forward_hook(lambda m, args, out: seen.append(out))
    model(idx)
    handle.remove()          # or: `with handle: ...`
"""

import itertools

_ids = itertools.count()


class RemovableHandle:
    """Returned by register_*_hook; `remove()` takes the hook out (twice is harmless). Also a
    context manager that removes the hook on exit."""

    def __init__(self, table: dict, key: int):
        self._table, self.id = table, key

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class HooksMixin:
    """Hook registration and the hooked call path of Module (Module.__call__ takes it only when
    a hook is registered, so an unhooked call costs nothing extra)."""

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """hook(module, args) runs before forward; it may return None (args unchanged), a new
        args tuple, or a single value (taken as the one positional argument). Keyword arguments
        pass through untouched."""
        if not callable(hook):
            raise TypeError(f"register_forward_pre_hook: hook must be callable, got {hook!r}")
        key = next(_ids)
        self._forward_pre_hooks[key] = hook
        return RemovableHandle(self._forward_pre_hooks, key)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """hook(module, args, output) runs after forward; it may return None (output unchanged)
        or a replacement output."""
        if not callable(hook):
            raise TypeError(f"register_forward_hook: hook must be callable, got {hook!r}")
        key = next(_ids)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output
