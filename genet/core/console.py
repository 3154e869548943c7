"""What every stage says to the user: the ``Log`` callable and the one progress-bar style.

Messages and bars go to stderr, so that a script's stdout holds only its results.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

Log = Callable[[str], None]


def stderr_log(quiet: bool = False) -> Log:
    """A ``Log`` that prints to stderr, or drops everything when ``quiet``."""
    if quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal, where a progress bar can redraw itself."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):      # replaced by an object without isatty, or closed
        return False


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: int, description: str, quiet: bool = False, unit: str = "img",
                 unit_scale: bool = False) -> Iterator[object]:
    """A tqdm bar on stderr (``bar.update(n)``), gone when done; a do-nothing bar when ``quiet`` or when stderr is
    not a terminal (a log file or a pipe gets no bar's redraws). The one home of that rule for every genet bar.

    tqdm is imported only when a bar is shown.
    """
    if quiet or not stderr_is_terminal():
        yield _NoBar()
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit=unit, unit_scale=unit_scale, leave=False, file=sys.stderr,
              dynamic_ncols=True) as bar:
        yield bar
