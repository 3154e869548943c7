"""The package's folders follow the pipeline: a folder imports only the folders below it.

Each entry lists what a folder may import from genet. Reading a report (``reports``) never loads the run
engine (``bench``) or a runner; ``core`` stands on the standard library alone.
"""

import ast
from pathlib import Path

import genet

ALLOWED = {
    "core": set(),
    "formats": {"core"},
    "data": {"core", "formats"},
    "model": {"core", "formats", "data"},
    "runners": {"core", "formats", "data", "model"},
    "convert": {"core", "formats", "data", "model", "runners"},
    "bench": {"core", "formats", "data", "model", "runners"},
    "reports": {"core", "formats", "data"},
    "layers": {"core", "formats", "data", "model", "runners", "convert", "bench", "reports"},
    "cli": {"core", "formats", "data", "model", "runners", "convert", "bench", "reports", "layers"},
}
PACKAGE = Path(genet.__file__).parent


def genet_imports(path: Path) -> set[str]:
    """The top folders of genet that a module imports (``genet.bench.engine`` → ``bench``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found.update(name.split(".")[1] for name in names if name.startswith("genet.") and name.count(".") >= 1)
    return found


def test_every_module_lives_in_a_stage_folder():
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "demo.py"}
    assert not loose, f"modules outside the stage folders: {sorted(loose)}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ALLOWED)


def test_no_folder_imports_one_above_it():
    wrong = []
    for folder, allowed in ALLOWED.items():
        for module in (PACKAGE / folder).glob("*.py"):
            extra = genet_imports(module) - allowed - {folder}
            wrong += [f"{folder}/{module.name} imports genet.{name}" for name in sorted(extra)]
    assert not wrong, wrong


def test_every_folder_says_what_it_owns():
    for folder in ALLOWED:
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc) > 60, folder
