"""User-facing errors and the wrapper that turns them into one line on stderr."""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence


def name_some(names: Sequence[str], limit: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``: names for a one-line error."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


class GenetError(Exception):
    """An error caused by the user's input: reported as one line, exit status 2."""

    exit_code = 2


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a command-line ``main`` and map failures to an exit status.

    GenetError becomes ``prog: error: message`` on stderr; Ctrl-C exits 130. Other
    exceptions are bugs and keep their traceback.
    """
    prog = os.path.basename(sys.argv[0]) or "genet"
    try:
        return int(main(argv) or 0)
    except GenetError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
