"""The parts every command line shares: a parser whose usage errors are one line, and ``--quiet``."""

from __future__ import annotations

import argparse

from genet.core.errors import GenetError


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 2, as every other bad input (``run_cli``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise GenetError(f"{message} (see --help)")


def add_quiet(parser: argparse.ArgumentParser, what: str = "no progress bar or notes on stderr") -> None:
    parser.add_argument("--quiet", action="store_true", help=what)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts that must be at least 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse ``type`` for counts that may be 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value
