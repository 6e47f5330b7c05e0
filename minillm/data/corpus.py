"""Raw text: the shipped corpus, files on disk, and the train/validation cut.

A language model learns from one long string. We ship one public-domain corpus (eight Shakespeare
plays, about 1 MB, see ``NOTICE.md``) so that every example and test runs offline; any other
UTF-8 text file works too.

The validation set is the *last* 10 % of the text, not a random sample of characters: a model
must be judged on text it has not seen, and neighbouring characters are far from independent
(nanoGPT's ``prepare.py`` cuts the same way).
"""

from importlib import resources
from os import PathLike
from pathlib import Path

# name -> file inside the minillm.data package
SHIPPED_TEXTS = {"shakespeare": "shakespeare.txt"}


def load_text(name_or_path: str | PathLike) -> str:
    """Return a whole text as one string.

    ``name_or_path`` is either the name of a shipped corpus (``"shakespeare"``, see
    ``SHIPPED_TEXTS``) or the path of a UTF-8 text file. The bytes are decoded as they are:
    no newline translation, so ``len`` counts exactly the characters in the file.
    """
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_TEXTS:
        data = resources.files("minillm.data").joinpath(SHIPPED_TEXTS[name_or_path]).read_bytes()
        return data.decode("utf-8")
    if not isinstance(name_or_path, (str, PathLike)):
        raise TypeError(
            f"load_text: expected a corpus name or a path, got {type(name_or_path).__name__}"
        )
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"load_text: {str(name_or_path)!r} is neither a shipped corpus nor a file "
            f"(looked for {path.resolve()}); shipped corpora: {sorted(SHIPPED_TEXTS)}"
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"load_text: {str(path)!r} is not UTF-8 text ({err})") from err


def train_val_split(data, frac: float = 0.9):
    """Cut a sequence in two: the first ``frac`` for training, the rest for validation.

    ``data`` is anything sliceable with a length (a string, a list, a 1-D array of token ids).
    The cut point is ``n = int(len(data) * frac)``, as in nanoGPT: ``data[:n], data[n:]``.
    For the shipped Shakespeare (1,035,997 chars) that is 932,397 train and 103,600 val chars.
    """
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0.0 < frac < 1.0:
        raise ValueError(f"train_val_split: frac must be a number in (0, 1), got {frac!r}")
    n = int(len(data) * frac)
    if n == 0 or n == len(data):
        raise ValueError(
            f"train_val_split: frac={frac} of {len(data)} items leaves an empty split "
            f"(train {n}, val {len(data) - n})"
        )
    return data[:n], data[n:]
