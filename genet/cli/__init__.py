"""Command-line front ends: each module has ``main(argv) -> int`` and ``run()`` for entry points."""
