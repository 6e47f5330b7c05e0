"""Shared by the Transformer tests: the tolerance table, an assert that names op, shape and index,
and the PyTorch fixtures (tests/fixtures/transformer.npz, made by make_transformer_fixtures.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
from compare import assert_close as _compare

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transformer.npz"

# One table per dtype. float64 results are compared with float64 PyTorch (or a float64 loop):
# a handful of matmuls, softmaxes and layer norms in a different order agree to ~1e-12.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11},
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-5},
    # float64 through exact GELU: minillm.ops.gelu evaluates erf by Abramowitz & Stegun 7.1.26
    # (|error| <= 1.5e-7, its stated deviation), PyTorch by a full-precision erf.
    "float64_erf": {"rtol": 1e-6, "atol": 1e-6},
}


def _assert_close(actual, expected, op, tol=None):
    """compare.assert_close on Tensors or arrays, with this suite's table: the row `tol`, or the
    expected dtype's."""
    actual = np.asarray(getattr(actual, "data", actual))
    expected = np.asarray(getattr(expected, "data", expected))
    _compare(actual, expected, op, TOLERANCES[tol if tol is not None else expected.dtype])


@pytest.fixture
def assert_close():
    return _assert_close


class Fixture:
    """One case of the npz: fx["x"] is the array stored as '<case>/x'."""

    def __init__(self, z, case):
        self.z, self.case = z, case

    def __getitem__(self, key):
        return self.z[f"{self.case}/{key}"]

    def __contains__(self, key):
        return f"{self.case}/{key}" in self.z.files

    def config(self):
        return json.loads(str(self["config"]))

    def group(self, kind):
        """{our parameter name: array} of '<case>/<kind>/<name>' (kind: param or grad)."""
        prefix = f"{self.case}/{kind}/"
        return {k[len(prefix) :]: self.z[k] for k in self.z.files if k.startswith(prefix)}

    def load_into(self, module):
        """Give the module PyTorch's weights, in float64 (replacing its float32 arrays)."""
        params = dict(module.named_parameters())
        state = self.group("param")
        assert sorted(params) == sorted(state), (
            f"{self.case}: parameter names differ: ours {sorted(params)} vs fixture {sorted(state)}"
        )
        for name, p in params.items():
            p.data = np.array(state[name], dtype=np.float64)
            p.grad = None
        return module


@pytest.fixture(scope="session")
def torch_fixture():
    z = np.load(FIXTURES)
    return lambda case: Fixture(z, case)
