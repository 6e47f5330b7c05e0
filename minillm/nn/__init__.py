"""Layers and models' building blocks: Module, Parameter and the layers of the Transformer."""

from .attention import KVCache, MultiHeadAttention
from .containers import ModuleList, Sequential
from .encoder import TransformerEncoderLayer
from .feedforward import FeedForward
from .layers import Dropout, Embedding, LayerNorm, Linear
from .module import Module, Parameter

__all__ = [
    "Dropout",
    "Embedding",
    "FeedForward",
    "KVCache",
    "LayerNorm",
    "Linear",
    "Module",
    "ModuleList",
    "MultiHeadAttention",
    "Parameter",
    "Sequential",
    "TransformerEncoderLayer",
]
