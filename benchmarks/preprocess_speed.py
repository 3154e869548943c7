#!/usr/bin/env python3
"""How fast ``preprocess.py`` writes the 10,000 test images, against two baselines.

Every figure is the wall time of a whole process (interpreter start, imports, reading,
normalizing, writing), as a user would see it. Each round runs every variant once, in a
shuffled order, with the variant's previous output moved aside and ``sync`` called
beforehand (both untimed). Nothing is deleted until the end, and the run starts with a
sync and six minutes' wait: file creations right after a large delete can be ten times
slower on our VMs' ext4 (see quiet_disk.py). Medians of ``--repeats`` rounds are compared within this one run; since
the file system's speed drifts a lot from minute to minute on a shared machine, the
median of the per-round ratios (each from runs seconds apart) is printed as well.

- ours: ``preprocess.py <data> <out>``, the seed's command line, progress bar included;
- (a) a per-image loop in torchvision's style: PIL image → torch tensor → ToTensor's
  ``div(255)`` → Normalize's ``sub_``/``div_`` → ``tofile`` (torchvision's own transform
  code is not used; the same torch operations are written out here);
- (b) the floor: a script that only writes N ready-made 12,288-byte files and the label file;
- for information: the floor with two writer threads (do threads pay on this file
  system?), ours with ``--limit 1`` (our fixed cost: start, imports, reading the batch)
  and ``python -c "import numpy"`` (the part of that cost no numpy user avoids);
- ``--packed-only``: images.npy + labels.npy + val_label.txt, no per-image files.

Targets (issue 3): ours faster than (a), within 1.25× of (b), ``--packed-only`` under 1 s.
The data are generated (genet.synthetic), not CIFAR-10; only their format matters here.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from genet.synthetic import write_cifar10  # noqa: E402
from quiet_disk import SETTLE_SECONDS, set_aside, settle  # noqa: E402

TORCHVISION_STYLE = r'''
import os, pickle, sys
import numpy as np, torch
from PIL import Image

MEAN = torch.tensor((0.4914, 0.4822, 0.4465), dtype=torch.float32).view(-1, 1, 1)
STD = torch.tensor((0.2023, 0.1994, 0.2010), dtype=torch.float32).view(-1, 1, 1)

def to_tensor(picture):  # what ToTensor() does with an RGB PIL image
    pixels = torch.from_numpy(np.array(picture, np.uint8, copy=True))
    pixels = pixels.view(picture.size[1], picture.size[0], 3).permute(2, 0, 1).contiguous()
    return pixels.to(torch.float32).div(255)

source, out = sys.argv[1], sys.argv[2]
with open(os.path.join(source, "cifar-10-batches-py", "test_batch"), "rb") as f:
    batch = pickle.load(f, encoding="latin1")
images = batch["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)   # HWC, as torchvision's CIFAR10
os.makedirs(out)
lines = []
for index, (image, label) in enumerate(zip(images, batch["labels"])):
    tensor = to_tensor(Image.fromarray(image)).sub_(MEAN).div_(STD)   # Normalize(mean, std)
    tensor.numpy().tofile(os.path.join(out, f"{index:05d}.bin"))
    lines.append(f"{index:05d}.bin {label}\n")
with open(os.path.join(out, "val_label.txt"), "w") as f:
    f.writelines(lines)
'''

WRITE_FLOOR = r'''
import os, sys, threading
out, count, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(12288)
os.makedirs(out)

def write_share(first):
    for index in range(first, count, threads):
        fd = os.open(os.path.join(out, f"{index:05d}.bin"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)

writers = [threading.Thread(target=write_share, args=(first,)) for first in range(threads)]
for writer in writers:
    writer.start()
for writer in writers:
    writer.join()
with open(os.path.join(out, "val_label.txt"), "w") as f:
    f.writelines(f"{index:05d}.bin 0\n" for index in range(count))
'''

OURS = "ours"
TORCHVISION = "(a) torchvision-style loop"
FLOOR = "(b) write-only floor"
FLOOR_THREADS = "(b) floor, 2 writer threads"
NUMPY_IMPORT = "python -c 'import numpy'"
FIXED_COST = "ours --limit 1"
PACKED = "ours --packed-only"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="test images to generate (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="rounds; medians are taken over them (default %(default)s, at least 3)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where data and outputs go (default: the system temporary folder); "
                             "its file system is printed")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS, metavar="S",
                        help="seconds to wait after a sync before timing, so that earlier file deletions do not "
                             "slow the file creations (see benchmarks/quiet_disk.py; default %(default)s)")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    return args


def file_system(path: Path) -> str:
    """The mount holding ``path``, as /proc/mounts describes it (Linux only)."""
    best = ("?", "?", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind = line.split()[:3]
            if str(path.resolve()).startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[1]):
                best = (device, mount, kind)
    except OSError:
        pass
    return f"{best[2]} on {best[1]} ({best[0]})"


def versions() -> str:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "absent"
    return ", ".join(f"{name} {version(name)}" for name in ("numpy", "torch", "pillow"))


def timed(command: list[str], out: Path) -> float:
    set_aside(out)
    os.sync()
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"failed ({result.returncode}): {shlex.join(command)}\n{result.stderr}")
    return elapsed


def same_outputs(ours: Path, theirs: Path, count: int) -> bool:
    names = [f"{index:05d}.bin" for index in range(count)] + ["val_label.txt"]
    return all((ours / name).read_bytes() == (theirs / name).read_bytes() for name in names)


def main() -> int:
    args = parse_args()
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="preprocess_speed.", dir=args.workdir))
    try:
        return run_benchmark(args, python, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, python: str, work: Path) -> int:
    print(f"command: {shlex.join([Path(python).name, *sys.argv])}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; Python {platform.python_version()}; {versions()}")
    print(f"file system of {work}: {file_system(work)}")
    data = work / "data"
    start = time.perf_counter()
    write_cifar10(data, train=0, test=args.images, seed=0)
    print(f"generated {args.images} test images (genet.synthetic, not CIFAR-10) in {time.perf_counter() - start:.2f} s")
    (work / "torchvision_style.py").write_text(TORCHVISION_STYLE)
    (work / "write_floor.py").write_text(WRITE_FLOOR)
    settle(args.settle)
    preprocess = [python, str(REPO / "preprocess.py"), str(data)]
    floor = [python, str(work / "write_floor.py")]
    out = {name: work / f"out_{index}" for index, name in enumerate((OURS, TORCHVISION, FLOOR, FLOOR_THREADS, PACKED))}
    torchvision_style = [python, str(work / "torchvision_style.py"), str(data)]
    variants = {
        OURS: (preprocess + [str(out[OURS])], out[OURS]),
        TORCHVISION: (torchvision_style + [str(out[TORCHVISION])], out[TORCHVISION]),
        FLOOR: (floor + [str(out[FLOOR]), str(args.images), "1"], out[FLOOR]),
        FLOOR_THREADS: (floor + [str(out[FLOOR_THREADS]), str(args.images), "2"], out[FLOOR_THREADS]),
        NUMPY_IMPORT: ([python, "-c", "import numpy"], work / "nothing"),
        FIXED_COST: (preprocess + [str(work / "out_one"), "--limit", "1"], work / "out_one"),
        PACKED: (preprocess + [str(out[PACKED]), "--packed-only"], out[PACKED]),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    shuffle = random.Random(0).shuffle
    for round_index in range(args.repeats):
        order = names[:]
        shuffle(order)
        for name in order:
            times[name].append(timed(*variants[name]))
        print(f"round {round_index + 1}/{args.repeats}: "
              + ", ".join(f"{name} {times[name][-1]:.2f} s" for name in names), flush=True)

    # the last round left every output in place: check ours against (a), byte for byte
    identical = same_outputs(out[OURS], out[TORCHVISION], args.images)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{'variant':32} {'median s':>9}  runs (s)")
    for name in names:
        print(f"{name:32} {median[name]:9.3f}  {' '.join(f'{t:.3f}' for t in times[name])}")

    def paired(top: str, bottom: str) -> float:
        return statistics.median(x / y for x, y in zip(times[top], times[bottom]))

    ours, a, b = median[OURS], median[TORCHVISION], median[FLOOR]
    print(f"\nfloor with 2 threads / floor = {median[FLOOR_THREADS] / b:.2f} (< 1: writer threads would pay)")
    print(f"ours - floor = {ours - b:.3f} s; ours' fixed cost ({FIXED_COST}) {median[FIXED_COST]:.3f} s, "
          f"of which starting python and importing numpy {median[NUMPY_IMPORT]:.3f} s")
    checks = [
        (f"(a) / ours = {a / ours:.2f} (median of per-round ratios {paired(TORCHVISION, OURS):.2f}; "
         "ours faster than the torchvision-style loop: > 1)", a / ours > 1),
        (f"ours / (b) = {ours / b:.2f} (median of per-round ratios {paired(OURS, FLOOR):.2f}; "
         "within 1.25x of the write-only floor: <= 1.25)", ours / b <= 1.25),
        (f"--packed-only median {median[PACKED]:.3f} s (under 1 s)", median[PACKED] < 1.0),
        (f"ours' .bin files and val_label.txt byte-identical to (a)'s: {identical}", identical),
    ]
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
