"""Start a command line from a top-level script, saying in one line what is missing when it cannot.

Only the standard library is imported here: this is what runs when the requirements are not.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

INSTALL_HINT = ("activate the project's environment (source .venv/bin/activate) or install the requirements "
                "(python3 -m pip install -r requirements.txt -e .)")


REQUIREMENTS = ("numpy", "torch", "onnx", "onnxruntime", "tqdm", "matplotlib")   # import names, requirements.txt


def check_requirements() -> str | None:
    """The one-line message for the first requirement this Python lacks (looked up, not imported), or None."""
    for name in REQUIREMENTS:
        if importlib.util.find_spec(name) is None:
            return missing_requirement(ModuleNotFoundError(name=name))
    return None


def missing_requirement(exc: ImportError) -> str:
    """The one-line message for a requirement this Python lacks."""
    name = getattr(exc, "name", None) or str(exc)
    return f"this Python ({sys.executable}) lacks the module '{name}': {INSTALL_HINT}"


def launch(module_name: str) -> None:
    """Import ``module_name`` (a ``genet.cli`` module) and run its ``run()``; exit 2 on a missing requirement."""
    prog = os.path.basename(sys.argv[0]) or module_name
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except ImportError as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):     # Ctrl-C inside a library's own import
            print(f"{prog}: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        if not isinstance(exc, ModuleNotFoundError):
            raise
        print(f"{prog}: error: {missing_requirement(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    module.run()
