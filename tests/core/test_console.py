"""genet.core.console.progress_bar: a bar on a terminal only, the one home of that rule."""

from __future__ import annotations

import genet.core.console as console


def test_no_bar_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(console, "stderr_is_terminal", lambda: False)
    with console.progress_bar(40, "work") as bar:
        bar.update(40)
    assert capsys.readouterr().err == ""


def test_a_bar_on_a_terminal_unless_quiet(capsys, monkeypatch):
    monkeypatch.setattr(console, "stderr_is_terminal", lambda: True)
    with console.progress_bar(40, "work") as bar:
        bar.update(40)
    assert "work" in capsys.readouterr().err
    with console.progress_bar(40, "work", quiet=True) as bar:
        bar.update(40)
    assert capsys.readouterr().err == ""


def test_stderr_is_terminal_is_false_for_a_capture(capsys):
    assert console.stderr_is_terminal() is False
