"""argparse for the generate and eval commands: errors become one line and exit status 2."""

import argparse


class Exit(Exception):
    """argparse wanted to exit (after --help: 0, after an error it printed: 2)."""

    def __init__(self, code):
        self.code = code


def parse(parser: argparse.ArgumentParser, args):
    try:
        return parser.parse_args(args)
    except SystemExit as e:
        raise Exit(e.code) from None


def boolean(text: str) -> bool:
    """--flag=true|false (also 1/0, yes/no), as `minillm train` spells its booleans."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def positive_int(text: str) -> int:
    """argparse type: an int >= 1 (so --eval_iters=0 is an error, not 'use the default')."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default, unless it is None or the help already says it."""

    def _get_help_string(self, action):
        if action.default is None or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=_Defaults)
