"""How long cifar10_acc_eval.py takes on 10,000 dumps (target: <= 1 s as a whole process).

Writes generated logits (random, NOT CIFAR-10 results) as {stem}_1.txt dumps, .bin dumps and
a packed .npz, with a label file, then times, alternating, median of --repeats runs:
- the whole process: `python cifar10_acc_eval.py <dumps> <labels> <dir> <json>` (the guide's
  command line), against `python -c "import numpy"` (the start-up floor);
- the work in-process (genet.cli.acc_eval.main), for .txt, .bin and packed dumps, against a
  baseline that reads each .txt dump with genet.formats.dumps.read_dump one at a time.

Run: .venv/bin/python benchmarks/acc_eval_speed.py [--images 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genet.cli.acc_eval import main as acc_eval_main  # noqa: E402
from genet.core.cpuinfo import cpu_label  # noqa: E402
from genet.formats.dumps import PACKED_DUMP, read_dump, scan_dumps, write_dump, write_packed  # noqa: E402
from genet.formats.labels import read_labels, write_labels  # noqa: E402
from genet.reports.accuracy import rank_classes  # noqa: E402

TARGET_S = 1.0


def generate(root: Path, images: int) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((images, 10)).astype(np.float32)
    labels = rng.integers(0, 10, images)
    stems = [f"{i:05d}" for i in range(images)]
    folders = {"txt": root / "txt", "bin": root / "bin", "packed": root / "packed"}
    for folder in folders.values():
        folder.mkdir()
    for stem, row in zip(stems, logits):
        write_dump(folders["txt"], stem, row)
        write_dump(folders["bin"], stem, row, binary=True)
    write_packed(folders["packed"] / PACKED_DUMP, stems, logits)
    write_labels(root / "val_label.txt", [(f"{s}.bin", int(y)) for s, y in zip(stems, labels)])
    return folders


def per_file_baseline(folder: Path, label_file: Path) -> None:
    """The plain way: one read_dump per file, then the same ranking."""
    labels = read_labels(label_file)
    found = scan_dumps(folder)
    stems = sorted(found)
    logits = np.stack([read_dump(found[s]) for s in stems])
    y = np.array([labels[s] for s in stems])
    (rank_classes(logits, 5) == y[:, None]).sum(axis=0)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000, help="dumps to generate (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each measurement, >= 3 (default: %(default)s)")
    args = parser.parse_args()
    repeats = max(3, args.repeats)

    print(f"command: {' '.join([sys.executable] + sys.argv)}")
    print(f"machine: {cpu_label()}, {platform.platform()}")
    print(f"versions: Python {platform.python_version()}, numpy {np.__version__}")
    print(f"data: {args.images} generated logit dumps (random numbers, not CIFAR-10 results), "
          f"median of {repeats} runs, alternating")

    with tempfile.TemporaryDirectory(prefix="acc_eval_speed.") as tmp:
        root = Path(tmp)
        folders = generate(root, args.images)
        labels = root / "val_label.txt"
        script = str(REPO / "cifar10_acc_eval.py")

        def in_process(kind: str):
            return lambda: acc_eval_main([str(folders[kind]), str(labels), str(root), f"r_{kind}.json", "--quiet"])

        measures = {
            "process: cifar10_acc_eval.py, .txt dumps": lambda: subprocess.run(
                [sys.executable, script, str(folders["txt"]), str(labels), str(root), "result_bs1.json"],
                check=True, stdout=subprocess.DEVNULL),
            "process: python -c 'import numpy' (start-up floor)": lambda: subprocess.run(
                [sys.executable, "-c", "import numpy"], check=True),
            "in-process: .txt dumps": in_process("txt"),
            "in-process: .bin dumps": in_process("bin"),
            "in-process: packed .npz": in_process("packed"),
            "in-process baseline: read_dump per .txt file": lambda: per_file_baseline(folders["txt"], labels),
        }
        times: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(repeats):
            for name, fn in measures.items():
                times[name].append(timed(fn))

    medians = {name: statistics.median(t) for name, t in times.items()}
    width = max(map(len, medians))
    for name, median in medians.items():
        runs = ", ".join(f"{t:.3f}" for t in times[name])
        print(f"{name:<{width}}  median {median:.3f} s   (runs: {runs})")
    speedup = medians["in-process baseline: read_dump per .txt file"] / medians["in-process: .txt dumps"]
    print(f"in-process .txt against the per-file read_dump baseline: {speedup:.2f}x faster")
    whole = medians["process: cifar10_acc_eval.py, .txt dumps"]
    print(f"target: whole process on {args.images} .txt dumps <= {TARGET_S:.1f} s: {whole:.3f} s -> "
          f"{'PASS' if whole <= TARGET_S else 'FAIL'}")
    return 0 if whole <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
