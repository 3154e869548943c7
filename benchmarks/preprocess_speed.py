#!/usr/bin/env python3
"""How fast ``preprocess.py`` writes the 10,000 test images, against the plain loop, in one run.

Every figure is the wall time of a whole process (interpreter start, imports, reading,
normalizing, writing), as a user sees it. Each round runs every variant once, in a shuffled
order (rounds interleaved); outputs are moved aside, not deleted, until the end. Medians over
``--repeats`` rounds, and the median of the per-round ratios (runs seconds apart, so less
exposed to a shared machine's drift).

- ours: ``preprocess.py <data> <out>``, the guide's command line, progress bar included;
- plain: the 15-line numpy + ``tofile`` loop (PLAIN_LOOP below), the baseline a trick must beat;
- torchvision-style: a per-image loop PIL image → tensor → ``div(255)`` → ``sub_``/``div_`` →
  ``tofile`` (the same torch operations torchvision's ToTensor + Normalize run).

A speed trick in ``genet.data.preprocess`` earns its place only with plain / ours ≥ 1.3. The three
outputs are checked byte for byte. The data are generated (genet.data.synthetic), NOT CIFAR-10;
only their format matters here.
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

from genet.data.synthetic import write_cifar10  # noqa: E402

PLAIN_LOOP = r'''
import os, pickle, sys
import numpy as np

source, out = sys.argv[1], sys.argv[2]
with open(os.path.join(source, "cifar-10-batches-py", "test_batch"), "rb") as f:
    batch = pickle.load(f, encoding="latin1")
images = batch["data"].reshape(-1, 3, 32, 32) / np.float32(255)
images -= np.array((0.4914, 0.4822, 0.4465), np.float32).reshape(3, 1, 1)
images /= np.array((0.2023, 0.1994, 0.2010), np.float32).reshape(3, 1, 1)
os.makedirs(out)
for index, image in enumerate(images):
    image.tofile(os.path.join(out, f"{index:05d}.bin"))
with open(os.path.join(out, "val_label.txt"), "w") as f:
    f.writelines(f"{index:05d}.bin {label}\n" for index, label in enumerate(batch["labels"]))
'''

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

OURS, PLAIN, TORCHVISION = "ours", "plain numpy + tofile loop", "torchvision-style loop"
TRICK_THRESHOLD = 1.3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="test images to generate (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds, at least 3 (default %(default)s)")
    parser.add_argument("--no-torchvision", action="store_true", help="leave out the torchvision-style loop")
    parser.add_argument("--workdir", type=Path, default=None, help="where data and outputs go (default: the "
                                                                    "system temporary folder)")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    return args


def versions() -> str:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "absent"
    return ", ".join(f"{name} {version(name)}" for name in ("numpy", "torch", "pillow"))


def timed(command: list[str], out: Path, trash: Path) -> float:
    if out.exists():
        out.rename(trash / f"{out.name}.{len(os.listdir(trash))}")
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"failed ({result.returncode}): {shlex.join(command)}\n{result.stderr}")
    return elapsed


def same_outputs(first: Path, second: Path, count: int) -> bool:
    names = [f"{index:05d}.bin" for index in range(count)] + ["val_label.txt"]
    return all((first / name).read_bytes() == (second / name).read_bytes() for name in names)


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="preprocess_speed.", dir=args.workdir))
    try:
        return run_benchmark(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, work: Path) -> int:
    python = sys.executable
    print(f"command: {shlex.join([Path(python).name, *sys.argv])}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"Python {platform.python_version()}; {versions()}")
    data, trash = work / "data", work / "set_aside"
    trash.mkdir()
    write_cifar10(data, train=0, test=args.images, seed=0)
    print(f"data: {args.images} generated test images (genet.data.synthetic, NOT CIFAR-10)")
    scripts = {PLAIN: PLAIN_LOOP, TORCHVISION: TORCHVISION_STYLE}
    for index, code in enumerate(scripts.values()):
        (work / f"loop_{index}.py").write_text(code)
    out = {name: work / f"out_{index}" for index, name in enumerate((OURS, PLAIN, TORCHVISION))}
    variants = {
        OURS: [python, str(REPO / "preprocess.py"), str(data), str(out[OURS])],
        PLAIN: [python, str(work / "loop_0.py"), str(data), str(out[PLAIN])],
        TORCHVISION: [python, str(work / "loop_1.py"), str(data), str(out[TORCHVISION])],
    }
    if args.no_torchvision:
        del variants[TORCHVISION]
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    shuffle = random.Random(0).shuffle
    for round_index in range(args.repeats):
        order = names[:]
        shuffle(order)
        for name in order:
            times[name].append(timed(variants[name], out[name], trash))
        print(f"round {round_index + 1}/{args.repeats}: "
              + ", ".join(f"{name} {times[name][-1]:.2f} s" for name in names), flush=True)

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{'variant':26} {'median s':>9}  runs (s)")
    for name in names:
        print(f"{name:26} {median[name]:9.3f}  {' '.join(f'{t:.3f}' for t in times[name])}")
    ratio = median[PLAIN] / median[OURS]
    per_round = statistics.median(p / o for p, o in zip(times[PLAIN], times[OURS]))
    print(f"\nplain / ours = {ratio:.2f} (median of per-round ratios {per_round:.2f}); a trick pays from "
          f"{TRICK_THRESHOLD}")
    if TORCHVISION in median:
        print(f"torchvision-style / ours = {median[TORCHVISION] / median[OURS]:.2f}")
    identical = all(same_outputs(out[OURS], out[name], args.images) for name in names[1:])
    print(f"outputs byte-identical ({', '.join(names)}): {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
