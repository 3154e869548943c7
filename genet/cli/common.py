"""The parts every command line shares: a parser whose usage errors are one line, and ``--quiet``.

The one ``--help`` style of every genet command (Python scripts, ``test/*.sh`` and the demo), checked by
tests/cli/test_help.py:

- **Program name.** ``usage:`` (lower case, as argparse prints it; the shell scripts too) names the command as the
  README types it: a script by its path from the repository root without the interpreter (``preprocess.py``,
  ``test/parse.py``, ``bash test/infer_bin.sh`` for the shell scripts, which run under bash), a module by its
  whole command (``python3 -m genet.demo``, ``python3 -m genet.cli.synthetic``). The same name whether the
  command was started that way or through its ``genet-*`` entry point. Errors start with the name typed
  (``parse.py: error: ...``, one line, exit status 2: ``run_cli``).
- **Words.** The description says what the command does in the guide's words (the Ascend ModelZoo guide's
  steps and file names) and the project's; nothing about how genet was made.
- **Examples.** Every ``--help`` ends with at least one example, a whole command line as a user types it from
  the repository root (``python3 ...`` or ``bash ...``), after ``example:`` or ``examples:``.
- **Option spelling.** The guide's flags keep the guide's spelling (``-om_path``, ``-batch_size``,
  ``--datasets_path``, ``--model_path``, ``--device_id``, ``--bs``, ``--soc``), and ais_bench's flags keep
  ais_bench's (``--model``, ``--outfmt``, ``--output_dirname``, ``--dymBatch``, ...), so that their command lines
  work unchanged; every other option is ``--a-b`` (an older ``--a_b`` spelling may stay accepted, unlisted).
  Values are given as ``--flag value`` or ``--flag=value``.
"""

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
