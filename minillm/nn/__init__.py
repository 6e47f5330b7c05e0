"""Layers and models' building blocks: Module, Parameter and the layers of the Transformer."""

from .attention import KVCache, MultiHeadAttention
from .containers import ModuleList, Sequential
from .decoder import TransformerDecoderLayer
from .encoder import TransformerEncoderLayer
from .feedforward import FeedForward
from .layers import Dropout, Embedding, LayerNorm, Linear
from .module import Module, Parameter
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding, sinusoidal_table
from .rnn import GRU, LSTM, RNN
from .rnn_cells import GRUCell, LSTMCell, RNNCell
from .rnn_output import LogSoftmaxOutput
from .transformer import TransformerDecoder, TransformerEncoder

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
    "LearnedPositionalEmbedding",
    "Linear",
    "LogSoftmaxOutput",
    "Module",
    "ModuleList",
    "MultiHeadAttention",
    "Parameter",
    "RNN",
    "RNNCell",
    "Sequential",
    "SinusoidalPositionalEncoding",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "sinusoidal_table",
]
