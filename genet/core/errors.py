"""User-facing errors and the wrapper that turns them into one line on stderr."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable, Sequence


def name_some(names: Sequence[str], limit: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``: names for a one-line error."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class GenetError(Exception):
    """An error caused by the user's input: reported as one line, exit status 2."""

    exit_code = 2


class SettingError(GenetError):
    """A setting out of its range, its message naming fields as ``{field}``; ``spelled`` names them otherwise.

    The library speaks of fields (``batch_size``); a command line re-raises the error with its own
    spelling of each (``-batch_size``).
    """

    def __init__(self, template: str, **values: object):
        self.template, self.values = template, values
        super().__init__(self.spelled(lambda name: name).args[0])

    def spelled(self, spell: Callable[[str], str]) -> GenetError:
        return GenetError(self.template.format_map(_Spelled(spell, self.values)))


class _Spelled(dict):
    """``{value}`` placeholders from the values given, any other ``{name}`` spelled by ``spell``."""

    def __init__(self, spell: Callable[[str], str], values: dict[str, object]):
        super().__init__(values)
        self._spell = spell

    def __missing__(self, name: str) -> str:
        return self._spell(name)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that every ``finally`` runs, as for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame) -> None:
    raise Terminated(signum)


def handle_termination() -> None:
    """Turn SIGTERM and SIGHUP into ``Terminated`` (a KeyboardInterrupt): outputs are cleaned up as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is not None and signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _raise_terminated)


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a command-line ``main`` and map failures to an exit status.

    GenetError becomes ``prog: error: message`` on stderr, exit 2; Ctrl-C exits 130 and
    SIGTERM/SIGHUP 128 + the signal, after the same clean-up. Other exceptions are bugs and
    keep their traceback.
    """
    prog = os.path.basename(sys.argv[0]) or "genet"
    handle_termination()
    try:
        return int(main(argv) or 0)
    except GenetError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated as exc:
        print(f"{prog}: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
