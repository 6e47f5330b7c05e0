"""Layers and models' building blocks: Module, Parameter and the layers of the Transformer."""

from . import init
from .attention import KVCache, MultiHeadAttention, record_attention
from .containers import ModuleList, Sequential
from .decoder import TransformerDecoderLayer
from .encoder import TransformerEncoderLayer
from .feedforward import FeedForward
from .layers import Dropout, Embedding, LayerNorm, Linear, TiedLinear
from .module import Module, Parameter
from .module_hooks import RemovableHandle
from .module_state import IncompatibleKeys
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding, sinusoidal_table
from .rnn import GRU, LSTM, RNN
from .rnn_cells import GRUCell, LSTMCell, RNNCell
from .rnn_output import LogSoftmaxOutput
from .transformer import TransformerDecoder, TransformerEncoder

__all__ = [
    "Dropout",
    "IncompatibleKeys",
    "Embedding",
    "FeedForward",
    "GRU",
    "GRUCell",
    "KVCache",
    "LSTM",
    "LSTMCell",
    "LayerNorm",
    "LearnedPositionalEmbedding",
    "Linear",
    "LogSoftmaxOutput",
    "Module",
    "ModuleList",
    "MultiHeadAttention",
    "Parameter",
    "RNN",
    "RemovableHandle",
    "RNNCell",
    "Sequential",
    "SinusoidalPositionalEncoding",
    "TiedLinear",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "init",
    "record_attention",
    "sinusoidal_table",
]
