"""pyproject.toml lists every package by hand (minillm.kernels lives in kernels/): a test keeps the
list complete, so a new subpackage cannot be left out of an install silently."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_in_the_setuptools_package_list():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"minillm.presets"}  # data only (the TOML presets), listed so setuptools ships it
    for init in (ROOT / "minillm").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for init in (ROOT / "kernels").rglob("__init__.py"):
        found.add(".".join(("minillm", *init.parent.relative_to(ROOT).parts)))
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
    assert listed <= found, f"pyproject.toml lists folders that are not packages: {listed - found}"


def test_the_license_is_an_spdx_string_and_python_is_3_11_or_newer():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["requires-python"] == ">=3.11"
