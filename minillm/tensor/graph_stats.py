"""What a computation graph holds for its backward, node by node, and the measured memory of a
training step as it rises through the forward and falls through the backward (C10).

    nodes = graph_nodes(loss)            # op, shape, output and saved bytes, parents, depth
    held_bytes(loss)                     # bytes the whole graph keeps alive (activations)
    with MemoryTimeline() as tl:         # tracemalloc: NumPy reports its allocations to it
        tl.watch_modules(model)          # an event after each module's forward
        _, loss = model(x, y)
        tl.watch_backward(loss)          # an event after each graph node's backward
        loss.backward()
        tl.mark("backward returned")
    tl.peak, tl.events

Who holds what in this engine: a node keeps its parents (`_parents`) and its backward closure
keeps the arrays it saved, so every intermediate output stays alive until backward. The backward
drops each node's closure (and parents) once it has run, and the outputs themselves go when the
last reference to them goes: at the latest when backward returns (its topological order lists
every node).
"""

import tracemalloc
from dataclasses import dataclass

from .graph import topological_order
from .tensor import Tensor


@dataclass
class NodeStats:
    """One graph node. Bytes count distinct buffers (a view counts as the array it views)."""

    index: int  # position in a valid execution order (0 computed first)
    op: str  # the op that made it ("matmul", "layer_norm", "checkpoint", ...)
    shape: tuple  # its output's shape
    out_bytes: int  # its output array
    saved_bytes: int  # arrays its backward closure keeps, parameters left out
    parents: list  # indices of the parent nodes in this list (leaves are not listed)
    depth: int  # longest path from a leaf (0 for a node computed from leaves only)


def _owner(a):
    """The array that owns a's memory (a view's base, followed to the end)."""
    while hasattr(getattr(a, "base", None), "nbytes"):
        a = a.base
    return a


def _arrays_in(obj, found: list, depth: int = 0) -> None:
    """Append every array reachable from a backward closure: arrays, Tensors' data, tuples,
    lists and dict values, and the closures of nested functions (a few levels deep)."""
    if depth > 6:
        return
    if isinstance(obj, Tensor):
        found.append(obj.data)
    elif hasattr(obj, "nbytes") and hasattr(obj, "shape"):
        found.append(obj)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _arrays_in(item, found, depth + 1)
    elif isinstance(obj, dict):
        for item in obj.values():
            _arrays_in(item, found, depth + 1)
    elif callable(obj) and getattr(obj, "__closure__", None):
        for cell in obj.__closure__:
            try:
                _arrays_in(cell.cell_contents, found, depth + 1)
            except ValueError:  # an empty cell
                continue


def _buffers(arrays, exclude: set) -> dict:
    """{id of owner: bytes} of the arrays' distinct owners, leaving out the ids in exclude."""
    owners = (_owner(a) for a in arrays)
    return {id(o): int(o.nbytes) for o in owners if id(o) not in exclude}


def _parameter_ids(order) -> set:
    return {id(_owner(n.data)) for n in order if n._backward is None}


def graph_nodes(root: Tensor) -> list:
    """NodeStats of every node of root's graph that has a backward, in execution order (each
    after its parents). Leaves (parameters, inputs) are not nodes; a parameter a closure holds
    is not counted in saved_bytes (it is alive anyway)."""
    order = topological_order(root)[::-1]  # reversed: parents first
    params = _parameter_ids(order)
    nodes = [n for n in order if n._backward is not None]
    index = {id(n): i for i, n in enumerate(nodes)}
    out = []
    for i, n in enumerate(nodes):
        found = []
        _arrays_in(n._backward, found)
        parents = [index[id(p)] for p in n._parents if id(p) in index]
        depth = 1 + max((out[j].depth for j in parents), default=-1)
        out.append(
            NodeStats(
                index=i,
                op=n._op,
                shape=tuple(n.shape),
                out_bytes=int(n.data.nbytes),
                saved_bytes=sum(_buffers(found, params).values()),
                parents=parents,
                depth=depth,
            )
        )
    return out


def held_bytes(root: Tensor) -> int:
    """Bytes the graph keeps alive for backward: the distinct buffers of the nodes' outputs and
    of their backward closures, parameters left out. This is the activation memory C10 cuts."""
    order = topological_order(root)
    params = _parameter_ids(order)
    found = []
    for n in order:
        if n._backward is not None:
            found.append(n.data)
            _arrays_in(n._backward, found)
    return sum(_buffers(found, params).values())


@dataclass
class MemoryEvent:
    label: str  # what just ran ("forward blocks.0.ff", "backward matmul", or a mark's label)
    current: int  # bytes traced right after it, relative to the timeline's start
    peak: int  # the most bytes traced since the previous event (its transients included)


class MemoryTimeline:
    """Memory measured by tracemalloc (NumPy reports every array allocation to it) at labelled
    points of a step. Bytes are relative to the moment the block is entered, so the weights and
    the optimizer state that exist already do not count.

    Events: mark(label) by hand; watch_modules(model) adds one after each module's forward;
    watch_backward(root) one after each graph node's backward (that node's saved arrays are
    released just after its event, so the drop shows at the next one). Arrays that bypass
    NumPy's allocator are not seen (none in minillm's CPU paths)."""

    def __init__(self):
        self.events: list = []
        self._hooks: list = []

    def __enter__(self):
        self._was_tracing = tracemalloc.is_tracing()
        if not self._was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc):
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        if not self._was_tracing:
            tracemalloc.stop()
        return False

    def mark(self, label: str) -> MemoryEvent:
        current, peak = tracemalloc.get_traced_memory()
        event = MemoryEvent(label, current - self._base, peak - self._base)
        self.events.append(event)
        tracemalloc.reset_peak()
        return event

    @property
    def peak(self) -> int:
        """The most bytes traced at any time so far (relative to the start)."""
        current, peak = tracemalloc.get_traced_memory()
        return max([peak - self._base] + [e.peak for e in self.events])

    def watch_modules(self, model) -> None:
        """An event after the forward of every module of model (a Module: anything with
        named_modules() and register_forward_hook()), until the block ends."""
        for path, m in model.named_modules():
            self._hooks.append(
                m.register_forward_hook(self._marker(f"forward {path or type(m).__name__}"))
            )

    def _marker(self, label):
        def hook(module, args, output):
            self.mark(label)  # returns None: the output stays as it is

        return hook

    def watch_backward(self, root: Tensor) -> None:
        """An event after the backward function of every node of root's graph has run (call it
        after the forward, before root.backward())."""
        for node in topological_order(root):
            if node._backward is not None:
                node._backward = self._marking(node._backward, f"backward {node._op}")

    def _marking(self, backward, label):
        def marked(dout):
            grads = backward(dout)
            self.mark(label)
            return grads

        return marked
