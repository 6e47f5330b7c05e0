"""Reverse-mode traversal of the computation graph, and the switch that turns graph building off.

Semantics (PyTorch's, documented in docs/autograd.md):
- Gradients accumulate into the `.grad` of *leaves* (tensors the user made with requires_grad=True)
  across backward calls, until `zero_grad` clears them. Non-leaf tensors keep `.grad = None`.
- After backward the graph is freed (its cached arrays dropped); a second backward through the same
  graph raises RuntimeError unless the first call passed retain_graph=True.
"""

import contextlib
import threading


class _GradMode(threading.local):
    """Whether new ops record a graph: one flag per thread, as PyTorch's grad mode is thread-local
    ("a thread's grad mode does not affect other threads"). A new thread starts enabled."""

    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when ops made in this thread record a graph (torch.is_grad_enabled)."""
    return _mode.enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn graph recording on or off for this thread (torch.set_grad_enabled as a function)."""
    _mode.enabled = bool(mode)


class no_grad(contextlib.ContextDecorator):
    """Context manager / decorator: ops inside build no graph (inference, optimizer updates).

    The flag is per thread: a no_grad block in one thread (a server request, a generator running
    there) never turns off recording in another."""

    def __init__(self):
        # a stack per thread: one decorator instance may be entered again (recursion), and from
        # two threads at once
        self._local = threading.local()

    def __enter__(self):
        stack = self._local.__dict__.setdefault("prev", [])
        stack.append(_mode.enabled)
        _mode.enabled = False

    def __exit__(self, *exc):
        _mode.enabled = self._local.prev.pop()
        return False


def topological_order(root):
    """Nodes that need a gradient, each before every node it was computed from (iterative DFS).

    Iterative, so a 10,000-step unrolled RNN does not hit Python's recursion limit."""
    post, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            post.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node._parents if p.requires_grad and id(p) not in seen)
    post.reverse()  # post-order has inputs before outputs; backward walks outputs first
    return post


def run_backward(root, grad, retain_graph=False):
    """Send `grad` (dL/d root) back through the graph; accumulate dL/d leaf into leaf.grad."""
    order = topological_order(root)
    for node in order:
        if node._freed:
            raise RuntimeError(
                f"backward through the graph a second time (at op '{node._op}'): its saved arrays "
                "were freed by the first backward; pass retain_graph=True to the first call"
            )
    grads = {id(root): grad}
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._backward is None:  # a leaf: accumulate, as PyTorch does
            g = g.astype(node.data.dtype, copy=True)  # own the array: it may alias another grad
            node.grad = g if node.grad is None else node.grad + g
            continue
        for parent, pg in zip(node._parents, node._backward(g)):
            if pg is None or not parent.requires_grad:
                continue
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
        if not retain_graph:
            node._backward = None
            node._parents = ()
            node._freed = True
