"""Markdown tables for the docs, written between <!-- bench:NAME --> and <!-- /bench:NAME -->
markers by the benchmarks that measure them (bench_compress.py, bench_finetune.py)."""

import re
from pathlib import Path


def markdown_table(header, rows) -> str:
    """A Markdown table: one header row, then one row per item of rows (cells str()-ed)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def write_bench_blocks(md: dict, path: Path) -> None:
    """Replace the text between <!-- bench:NAME --> and <!-- /bench:NAME --> for each NAME of md;
    an empty block (the two markers on consecutive lines) is filled too."""
    text = path.read_text(encoding="utf-8")
    for name, table in md.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n)(?:.*?\n)?(<!-- /bench:{name} -->)", re.S)
        text, n = pattern.subn(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text)
        if not n:
            print(f"docs: no <!-- bench:{name} --> markers; table not written")
    path.write_text(text, encoding="utf-8")
