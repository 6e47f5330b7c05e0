"""Activation checkpointing (C10): run a piece of the forward without recording its graph, keep
only its inputs, and run it again in backward to get the graph back (torch.utils.checkpoint's
idea; Chen et al. 2016, "Training deep nets with sublinear memory cost").

    y = checkpoint(block, x, attn_mask=mask, is_causal=True)

Memory against compute: a recorded block keeps every intermediate its backward needs (for a GPT
block at T = 512 that is about 17 (B, T, C) arrays plus the (B, H, T, T) attention weights);
checkpointed, it keeps x alone, and the backward pays for one more forward of the block. Over L
blocks the graph holds L block inputs plus one block's intermediates at a time, instead of L
blocks' intermediates.

The gradients are those of the recorded path, bit for bit: the second forward computes the same
arrays (same code, same inputs, and dropout's generators rewound to where the first forward
started), and each gradient is summed from the same terms.
"""

from .graph import is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor


def checkpoint(fn, *args, **kwargs) -> Tensor:
    """fn(*args, **kwargs), a Tensor, recorded as one graph node that holds only the Tensor
    arguments; its backward runs fn again with grad mode on and backpropagates through that.

    fn is a callable returning one Tensor, typically a Module: its trainable parameters become
    parents of the node, so they get gradients even when no Tensor argument requires grad (a
    frozen embedding below the block), and its dropout generators (`rng_states()`) are rewound
    for the second forward so both draw the same masks. Keyword arguments pass through as they
    are (masks, flags). With grad mode off, fn just runs.

    Deviation: torch's checkpoint saves and restores the global RNG; here randomness lives in the
    modules' own generators, which is what gets rewound."""
    if not is_grad_enabled():
        return fn(*args, **kwargs)
    inputs = list({id(a): a for a in args if isinstance(a, Tensor)}.values())  # each once
    params = [p for p in getattr(fn, "parameters", list)() if p.requires_grad]
    rng_start = fn.rng_states() if hasattr(fn, "rng_states") else None
    with no_grad():  # no graph: the intermediates are freed as soon as the next op has used them
        out = fn(*args, **kwargs)
    if not isinstance(out, Tensor):
        raise TypeError(f"checkpoint: fn must return one Tensor, got {type(out).__name__}")

    def backward(dout):
        leaves = {id(a): Tensor(a.data, requires_grad=a.requires_grad) for a in inputs}
        again_args = [leaves[id(a)] if isinstance(a, Tensor) else a for a in args]
        rng_end = fn.rng_states() if rng_start is not None else None
        was_enabled = is_grad_enabled()
        set_grad_enabled(True)  # backward may run under no_grad; the second forward must record
        try:
            if rng_start is not None:
                fn.set_rng_states(rng_start)  # the same dropout masks as the first forward
            again = fn(*again_args, **kwargs)
            if rng_end is not None:
                fn.set_rng_states(rng_end)  # and the generators where the first forward left them
            if again.requires_grad:
                again.backward(dout)  # parameters' .grad fill here; the inputs' go to the copies
        finally:
            set_grad_enabled(was_enabled)
        # parameters got theirs in again.backward (None: nothing more to add for them)
        return tuple(leaves[id(a)].grad for a in inputs) + (None,) * len(params)

    return Tensor.from_op(out.data, (*inputs, *params), backward, "checkpoint")
