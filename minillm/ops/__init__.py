"""The formulas: composite ops as forward/backward array pairs, plus thin Tensor wrappers.

Each composite has a hand-derived backward; a test holds it equal to autograd over the primitives.
The public functional API is `minillm.functional`.
"""

from . import activations as _act
from . import attention as _attn
from . import cross_entropy as _ce
from . import dropout as _drop
from . import embedding as _emb
from . import gelu as _gelu
from . import layer_norm as _ln
from . import softmax as _sm

# name -> (forward, backward): the composite half of the op table (the primitives are in
# minillm.tensor.PRIMITIVES). A meta-test checks each entry has a gradcheck test.
OP_TABLE = {
    "relu": (_act.relu_forward, _act.relu_backward),
    "sigmoid": (_act.sigmoid_forward, _act.sigmoid_backward),
    "gelu": (_gelu.gelu_forward, _gelu.gelu_backward),
    "softmax": (_sm.softmax_forward, _sm.softmax_backward),
    "log_softmax": (_sm.log_softmax_forward, _sm.log_softmax_backward),
    "logsumexp": (_sm.logsumexp_forward, _sm.logsumexp_backward),
    "layer_norm": (_ln.layer_norm_forward, _ln.layer_norm_backward),
    "cross_entropy": (_ce.cross_entropy_forward, _ce.cross_entropy_backward),
    "embedding": (_emb.embedding_forward, _emb.embedding_backward),
    "dropout": (_drop.dropout_forward, _drop.dropout_backward),
    "attention": (_attn.attention_forward, _attn.attention_backward),
}

__all__ = ["OP_TABLE"]
