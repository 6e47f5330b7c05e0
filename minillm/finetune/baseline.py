"""The baseline a fine-tuned BERT has to beat: bag-of-words logistic regression (sequence
classification), in plain NumPy.

Features: each text becomes counts of its words (the BERT basic tokenizer's words, lower-cased),
over the words seen at least min_count times in training, weighted as
    x_w = log(1 + count_w) * idf_w,   idf_w = log((1 + N) / (1 + df_w)) + 1
and each row scaled to unit length (word order is thrown away: "bag" of words).
Model: multinomial logistic regression, p(c | x) = softmax(x W + b)_c, trained on
    L = -(1/N) sum_n log p(y_n | x_n) + (lam / 2) ||W||^2          (F8 with an L2 penalty)
by full-batch gradient descent with Adam steps; the gradient, by hand:
    dZ = (P - Y) / N,   dW = X^T dZ + lam W,   db = sum_n dZ_n
with P the softmax probabilities and Y the one-hot labels; lam is picked on the validation
split. The rows are sparse (a speech uses ~50 of ~5,000 words), so X is kept as its non-zero
entries (SparseRows): both products cost O(non-zeros).
"""

from collections import Counter

import numpy as np

from ..data.basic_tokenizer import basic_tokenize
from .report import classification_report


class SparseRows:
    """An (N, V) matrix as its non-zero entries (row, col, value): X @ W and X^T @ G, each one
    gather and one segmented sum (np.add.reduceat) over the entries sorted by row / by column."""

    def __init__(self, rows, cols, vals, shape):
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        vals = np.asarray(vals, dtype=np.float64)
        self.shape = shape
        by_row = np.argsort(rows, kind="stable")
        by_col = np.argsort(cols, kind="stable")
        self.rows, self.cols, self.vals = rows[by_row], cols[by_row], vals[by_row]  # (nnz,)
        self.t_rows, self.t_cols, self.t_vals = rows[by_col], cols[by_col], vals[by_col]

    @staticmethod
    def _segment_sum(keys, terms, n):
        """out[i] = sum of terms[m] over the m with keys[m] == i, keys sorted: (n, K)."""
        out = np.zeros((n, terms.shape[1]))
        if len(keys):
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])  # first entry of a key
            out[keys[starts]] = np.add.reduceat(terms, starts, axis=0)
        return out

    def dot(self, W) -> np.ndarray:
        """X @ W: (N, V) @ (V, K) -> (N, K)."""
        terms = self.vals[:, None] * W[self.cols]  # (nnz, K)
        return self._segment_sum(self.rows, terms, self.shape[0])

    def tdot(self, G) -> np.ndarray:
        """X^T @ G: (V, N) @ (N, K) -> (V, K)."""
        terms = self.t_vals[:, None] * G[self.t_rows]  # (nnz, K)
        return self._segment_sum(self.t_cols, terms, self.shape[1])

    def dense(self) -> np.ndarray:
        X = np.zeros(self.shape)
        X[self.rows, self.cols] = self.vals
        return X


class BagOfWords:
    """Word-count features with idf weights and unit-length rows (see the module docstring)."""

    def __init__(self, min_count: int = 2):
        self.min_count = min_count
        self.vocab, self.idf = {}, None

    def fit(self, texts) -> "BagOfWords":
        docs = [Counter(basic_tokenize(t)) for t in texts]
        total = Counter(w for d in docs for w in d.elements())
        words = sorted(w for w, c in total.items() if c >= self.min_count)
        self.vocab = {w: i for i, w in enumerate(words)}
        df = np.zeros(len(words))
        for d in docs:
            df[[self.vocab[w] for w in d if w in self.vocab]] += 1
        self.idf = np.log((1 + len(docs)) / (1 + df)) + 1.0  # (V,)
        return self

    def transform(self, texts) -> SparseRows:
        rows, cols, vals = [], [], []
        for n, t in enumerate(texts):
            counts = Counter(basic_tokenize(t))
            row = [(self.vocab[w], np.log1p(c)) for w, c in counts.items() if w in self.vocab]
            js = np.array([j for j, _ in row], dtype=np.int64)
            x = np.array([v for _, v in row]) * self.idf[js]  # log(1 + count) * idf
            rows += [n] * len(js)
            cols += js.tolist()
            vals += (x / max(np.linalg.norm(x), 1e-12)).tolist()  # unit rows
        return SparseRows(rows, cols, vals, (len(texts), len(self.vocab)))


class LogisticRegression:
    """p(c | x) = softmax(x W + b); fit by full-batch Adam on the L2-penalised cross-entropy."""

    def __init__(self, n_classes: int, lam: float = 1e-3, lr: float = 0.1, steps: int = 300):
        self.n_classes, self.lam, self.lr, self.steps = n_classes, lam, lr, steps
        self.W = self.b = None

    def probabilities(self, X) -> np.ndarray:
        Z = X.dot(self.W) + self.b  # (N, K)
        Z = Z - Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        return P / P.sum(axis=1, keepdims=True)  # (N, K)

    def fit(self, X, y) -> "LogisticRegression":
        N, V = X.shape
        self.W, self.b = np.zeros((V, self.n_classes)), np.zeros(self.n_classes)
        Y = np.eye(self.n_classes)[y]  # (N, K) one-hot
        m = [np.zeros_like(self.W), np.zeros_like(self.b)]
        v = [np.zeros_like(self.W), np.zeros_like(self.b)]
        for t in range(1, self.steps + 1):
            dZ = (self.probabilities(X) - Y) / N  # (N, K)
            grads = [X.tdot(dZ) + self.lam * self.W, dZ.sum(axis=0)]  # dW (V, K), db (K,)
            for i, (p, g) in enumerate(zip((self.W, self.b), grads)):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                p -= self.lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
        return self

    def predict(self, X) -> np.ndarray:
        return self.probabilities(X).argmax(axis=1)


def bag_of_words_baseline(data, lams=(1e-5, 1e-4, 1e-3), min_count: int = 2, steps=300) -> dict:
    """Fit the baseline on data["train"] (play_classification's layout) for each lam (steps
    Adam steps each), keep the best on val: {"lam", "val": report, "test": report,
    "n_features"}."""
    bow = BagOfWords(min_count).fit(data["train"]["text"])
    X = {s: bow.transform(data[s]["text"]) for s in ("train", "val", "test")}
    y = {s: np.asarray(data[s]["label"]) for s in ("train", "val", "test")}
    K = len(data["classes"])
    best = None
    for lam in lams:
        clf = LogisticRegression(K, lam, steps=steps).fit(X["train"], y["train"])
        val = classification_report(y["val"], clf.predict(X["val"]), data["classes"])
        if best is None or val["accuracy"] > best[1]["accuracy"]:
            best = (lam, val, clf)
    lam, val, clf = best
    test = classification_report(y["test"], clf.predict(X["test"]), data["classes"])
    return {"lam": lam, "val": val, "test": test, "n_features": len(bow.vocab)}
