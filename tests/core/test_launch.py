"""Starting a script (genet.core.launch): Ctrl-C while a library is being imported."""

from __future__ import annotations

import sys

import pytest

from genet.core.launch import launch


def test_ctrl_c_during_a_librarys_import_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "genet_fake_cli.py").write_text(
        "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt:\n"
        "    raise ImportError('numpy: C-extensions failed. This error can happen ...')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["preprocess.py"])
    with pytest.raises(SystemExit) as exit_info:
        launch("genet_fake_cli")
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "preprocess.py: interrupted\n"
