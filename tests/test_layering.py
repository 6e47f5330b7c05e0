"""The layering contract of docs/style.md (1), checked by an `ast` walk over minillm/ and kernels/.

    tensor (0) < ops, functional (1) < nn, optim (2) < models (3)
      < train, generate, finetune, compress, serve (4) < cli, __main__ (5)

- a module imports only modules of its own rank or below; nn and optim never import each other,
  ops never imports functional (functional is built on ops), and generate, finetune, compress
  and serve never import train (checkpoint I/O lives in models);
- minillm.data is a leaf (imports nothing of minillm but itself) and is imported from rank >= 3
  only; kernels/ (shipped as minillm.kernels) is a leaf that imports nothing of minillm, and any
  layer may import it;
- no star imports; imports of minillm modules sit at module top level (not inside a function or
  class, not under `if TYPE_CHECKING`), so a cycle cannot hide in a function body;
- minillm/__init__.py is exempt from the ranks (it re-exports the public names).
The walk covers whatever files exist; a new subpackage must be given a rank in RANKS below.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANKS = {
    "tensor": 0,
    "ops": 1,
    "functional": 1,
    "nn": 2,
    "optim": 2,
    "models": 3,
    "train": 4,
    "generate": 4,
    "finetune": 4,
    "compress": 4,
    "serve": 4,
    "cli": 5,
    "course": 5,  # the course kit reads the source and runs tests; it imports no other layer
    "__main__": 5,
    "": 5,  # the root package `minillm` itself: importing it pulls in everything
}
LEAVES = {"data", "kernels"}
DATA_MIN_RANK = 3
# nn and optim are independent; ops is below functional; the rank-4 siblings that work on a built
# model (generation, fine-tuning, compression, serving) load weights through minillm.models and
# never import the training loop, so a server or a notebook does not pull in tqdm and the loop
FORBIDDEN_PAIRS = {
    ("nn", "optim"),
    ("optim", "nn"),
    ("ops", "functional"),
    ("generate", "train"),
    ("finetune", "train"),
    ("compress", "train"),
    ("serve", "train"),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """minillm/nn/layers.py -> minillm.nn.layers; kernels/cupy/x.py -> minillm.kernels.cupy.x"""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[0] == "kernels":
        parts = ["minillm", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """'minillm.nn.layers' -> 'nn'; 'minillm' -> ''"""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported_modules(node, importer: str, is_package: bool):
    """The absolute names an Import/ImportFrom node imports (for `from X import y`: X.y)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        base = node.module
    else:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        if node.level - 1 >= len(package):
            return ["<relative import beyond the top package>"]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    # `from pkg import name` may name a submodule; the layer is the same either way, except for
    # `from minillm import tensor` (the root package), so resolve one level there
    return [f"{base}.{a.name}" if base == "minillm" else base for a in node.names]


class ImportVisitor(ast.NodeVisitor):
    """Collects (node, nested) for every import; nested = inside a def/class/TYPE_CHECKING block."""

    def __init__(self):
        self.found = []
        self.depth = 0

    def nest(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = nest

    def visit_If(self, node):
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            self.nest(node)
        else:
            self.generic_visit(node)

    def visit_Import(self, node):
        self.found.append((node, self.depth > 0))

    visit_ImportFrom = visit_Import


def check_import(importer: str, target: str) -> str | None:
    """Why importer may not import target, or None when it may."""
    if target != "minillm" and not target.startswith("minillm."):
        return None  # numpy, the standard library, cupy, ...
    src, dst = layer_of(importer), layer_of(target)
    if src == dst:
        return None
    if src in LEAVES:
        return f"minillm.{src} is a leaf and imports nothing of minillm outside itself"
    if src not in RANKS:
        return f"minillm.{src} has no rank: add it to RANKS in tests/test_layering.py"
    if (src, dst) in FORBIDDEN_PAIRS:
        return f"minillm.{src} must not import minillm.{dst}"
    if dst == "kernels":
        return None
    if dst == "data":
        if RANKS[src] < DATA_MIN_RANK:
            return f"minillm.data may be imported from rank >= {DATA_MIN_RANK} only"
        return None
    if dst not in RANKS:
        return f"minillm.{dst} has no rank: add it to RANKS in tests/test_layering.py"
    if RANKS[dst] > RANKS[src]:
        return (
            f"rank {RANKS[src]} ({src or 'minillm'}) imports rank {RANKS[dst]} ({dst or 'minillm'})"
        )
    return None


def violations(path: Path, source: str, root: Path = ROOT):
    """'file:line: `import ...`: reason' for every import in one file that breaks the contract."""
    importer = module_name(path, root)
    rel = path.relative_to(root)
    exempt = rel.as_posix() == "minillm/__init__.py"
    tree = ast.parse(source, filename=str(path))
    lines = source.splitlines()
    visitor = ImportVisitor()
    visitor.visit(tree)
    out = []
    for node, nested in visitor.found:
        text = lines[node.lineno - 1].strip()
        where = f"{rel}:{node.lineno}: `{text}`"
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            out.append(f"{where}: star import")
        targets = imported_modules(node, importer, path.name == "__init__.py")
        ours = [t for t in targets if t == "minillm" or t.startswith(("minillm.", "<"))]
        if nested and ours:
            out.append(f"{where}: import of a minillm module inside a function/class/TYPE_CHECKING")
        for target in targets:
            if target.startswith("<"):
                out.append(f"{where}: {target[1:-1]}")
                continue
            reason = None if exempt else check_import(importer, target)
            if reason:
                out.append(f"{where}: {reason}")
    return out


def source_files(root: Path = ROOT):
    return sorted(p for d in ("minillm", "kernels") for p in (root / d).rglob("*.py"))


def test_every_import_in_minillm_and_kernels_respects_the_layers():
    files = source_files()
    assert any(p.name == "tensor.py" for p in files), "the walk found no minillm sources"
    found = [v for p in files for v in violations(p, p.read_text(encoding="utf-8"))]
    assert not found, "layering violations (docs/style.md section 1):\n" + "\n".join(found)


# ---- the checker itself catches each kind of violation -------------------------------------------
@pytest.mark.parametrize(
    "file,source,reason",
    [
        ("minillm/tensor/x.py", "from ..nn import Linear\n", "rank 0 (tensor) imports rank 2"),
        ("minillm/ops/x.py", "import minillm.models.gpt\n", "rank 1 (ops) imports rank 3"),
        ("minillm/nn/x.py", "from ..optim import SGD\n", "must not import minillm.optim"),
        ("minillm/optim/x.py", "from minillm.nn import Module\n", "must not import minillm.nn"),
        ("minillm/ops/x.py", "from .. import functional\n", "must not import minillm.functional"),
        ("minillm/nn/x.py", "from ..data import corpus\n", "rank >= 3 only"),
        ("minillm/serve/x.py", "from ..train import train\n", "must not import minillm.train"),
        ("minillm/finetune/x.py", "import minillm.train.loop\n", "must not import minillm.train"),
        ("minillm/compress/x.py", "from .. import train\n", "must not import minillm.train"),
        ("minillm/generate/x.py", "from ..train import step\n", "must not import minillm.train"),
        ("minillm/data/x.py", "from ..tensor import Tensor\n", "minillm.data is a leaf"),
        ("kernels/cupy/x.py", "from minillm.ops import softmax\n", "minillm.kernels is a leaf"),
        ("kernels/x.py", "from .. import tensor\n", "minillm.kernels is a leaf"),
        ("minillm/x.py", "from .. import y\n", "beyond the top package"),
        ("minillm/nn/x.py", "from ..ops import *\n", "star import"),
        ("minillm/train/x.py", "def f():\n    from ..models import GPT\n", "inside a function"),
        (
            "minillm/nn/x.py",
            "import typing\nif typing.TYPE_CHECKING:\n    from ..tensor import Tensor\n",
            "TYPE_CHECKING",
        ),
        ("minillm/utils/x.py", "from ..tensor import Tensor\n", "has no rank"),
        ("minillm/models/x.py", "import minillm\n", "rank 3 (models) imports rank 5"),
    ],
)
def test_checker_reports_the_violation_with_file_line_and_import(file, source, reason):
    found = violations(ROOT / file, source)
    assert any(reason in v for v in found), f"{file}: expected {reason!r}, got {found}"
    assert all(v.startswith(f"{file}:") for v in found), found
    assert any(source.splitlines()[-1].strip() in v for v in found), found


@pytest.mark.parametrize(
    "file,source",
    [
        ("minillm/models/x.py", "from ..data import corpus\nfrom ..nn import Linear\n"),
        ("minillm/ops/x.py", "import minillm.kernels\nfrom ..tensor import Tensor\n"),
        ("minillm/functional.py", "from .ops import softmax as _sm\n"),
        ("minillm/cli.py", "from .train import train\nfrom . import generate\n"),
        ("minillm/serve/x.py", "from ..models import load_checkpoint\nfrom ..generate import x\n"),
        ("minillm/__init__.py", "from .models import GPT\n"),
        ("kernels/cupy/x.py", "import cupy\nfrom .._pair import KernelPair\n"),
        ("minillm/data/x.py", "from .ids import encode\n\ndef f():\n    import json\n"),
    ],
)
def test_checker_accepts_allowed_imports(file, source):
    assert violations(ROOT / file, source) == []
