"""The docs site shows every notebook and every page: each notebooks/*.ipynb and docs/*.md is in
mkdocs.yml's nav, and each nav entry exists (mkdocs only warns about a missing nav file)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nav_entries():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r":\s+(\S+\.(?:md|ipynb))\s*$", nav, re.M)


def test_every_notebook_and_page_is_in_the_nav_and_every_entry_exists():
    entries = nav_entries()
    notebooks = {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert notebooks <= set(entries), f"notebooks missing from the nav: {notebooks - set(entries)}"
    assert pages <= set(entries), f"pages missing from the nav: {pages - set(entries)}"
    stale = [e for e in entries if e not in notebooks | pages]
    assert not stale, f"nav entries with no file: {stale}"
