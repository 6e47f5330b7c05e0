"""minillm.data is a leaf: its modules import only numpy, the standard library and each other."""

import ast
import sys
from pathlib import Path

import minillm.data

ALLOWED = {"numpy"} | set(sys.stdlib_module_names)


def test_data_package_imports_only_numpy_stdlib_and_itself():
    for path in sorted(Path(minillm.data.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0:
                    assert node.module is not None, f"{path.name}: 'from . import' is not used"
                    continue  # relative: inside minillm.data
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED, f"{path.name}:{node.lineno} imports {name}"
