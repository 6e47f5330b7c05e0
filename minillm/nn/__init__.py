"""Layers and models' building blocks: Module, Parameter and the layers of the Transformer."""

from .attention import KVCache, MultiHeadAttention
from .containers import ModuleList, Sequential
from .encoder import TransformerEncoderLayer
from .feedforward import FeedForward
from .layers import Dropout, Embedding, LayerNorm, Linear
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN
from .rnn_cells import GRUCell, LSTMCell, RNNCell
from .rnn_output import LogSoftmaxOutput

__all__ = [
    "Dropout",
    "Embedding",
    "FeedForward",
    "GRU",
    "GRUCell",
    "KVCache",
    "LSTM",
    "LSTMCell",
    "LayerNorm",
    "Linear",
    "LogSoftmaxOutput",
    "Module",
    "ModuleList",
    "MultiHeadAttention",
    "Parameter",
    "RNN",
    "RNNCell",
    "Sequential",
    "TransformerEncoderLayer",
]
