"""Parameter sharing (C2): one set of weights used in several places, stored and counted once.

- Tied input/output embeddings (Press & Wolf 2017): logits = h E^T with E the token embedding,
  GPTConfig(tie_weights=True), nn.TiedLinear; saves V * C parameters.
- Cross-layer sharing (ALBERT, Lan et al. 2020): every layer l applies block 0's weights,
  x_l = Block_0(x_{l-1}) for l = 1..L: the depth (compute) stays, the parameters of the blocks
  drop from L * P to P.
A shared Parameter is one object: named_parameters / num_params list it once, the optimizer
updates it once with the sum of the gradients of every place it is used, and save_checkpoint
stores it once (the other names become "aliases" in the manifest).
"""

from ..models.checkpoint import record_surgery, register_surgery
from ..nn import ModuleList


def share_blocks(model, attr="blocks") -> int:
    """Make every entry of the ModuleList `model.<attr>` the same module as its entry 0, in
    place (ALBERT's all-shared scheme); return how many parameters that removed. Recorded for
    checkpoints."""
    blocks = getattr(model, attr, None)
    if not isinstance(blocks, ModuleList) or len(blocks) < 1:
        raise ValueError(f"share_blocks: model.{attr} is not a non-empty ModuleList")
    before = model.parameter_counts()["total"]
    for i in range(1, len(blocks)):
        blocks[i] = blocks[0]
    record_surgery(model, "share_blocks", {"attr": attr})
    return before - model.parameter_counts()["total"]


register_surgery("share_blocks", share_blocks)
