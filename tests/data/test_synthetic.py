"""The generated CIFAR-10-format data set: real format, deterministic, learnable, not trivial."""

from __future__ import annotations

import hashlib
import pickle
import tarfile

import numpy as np
import pytest
import torch

from genet.cli.synthetic import main
from genet.core.constants import CIFAR10_CLASSES, CIFAR10_FOLDER, GENERATED_ARCHIVE
from genet.core.errors import GenetError
from genet.data.cifar import parse_batch
from genet.data.preprocess import normalize
from genet.data.provenance import GENERATED_MARK, is_generated
from genet.data.synthetic import generate_batches, write_cifar10
from genet.model.network import build_model
from tests.conftest import TINY, run_script

TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    folder = write_cifar10(root, train=53, test=40, seed=3, archive=True)
    return root, folder


def test_folder_has_the_real_layout_and_python2_pickles(generated):
    root, folder = generated
    assert folder == root / CIFAR10_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted([GENERATED_MARK, "batches.meta", "test_batch",
                                                               *TRAIN_FILES])
    assert is_generated(folder) and is_generated(root)
    sizes = []
    for name in ["test_batch", *TRAIN_FILES]:
        raw = (folder / name).read_bytes()
        assert raw[:2] == b"\x80\x02"                                   # pickle protocol 2
        as_bytes = pickle.loads(raw, encoding="bytes")
        assert set(as_bytes) == {b"batch_label", b"labels", b"data", b"filenames"}
        batch = pickle.loads(raw, encoding="latin1")                    # torchvision's way
        n = len(batch["labels"])
        assert batch["data"].dtype == np.uint8 and batch["data"].shape == (n, 3072)
        np.testing.assert_array_equal(batch["data"], as_bytes[b"data"])
        assert all(type(v) is int and 0 <= v <= 9 for v in batch["labels"])
        assert len(batch["filenames"]) == n and isinstance(batch["batch_label"], str)
        sizes.append(n)
    assert sizes == [40, 11, 11, 11, 10, 10]
    meta = pickle.loads((folder / "batches.meta").read_bytes(), encoding="latin1")
    assert meta["label_names"] == list(CIFAR10_CLASSES) and meta["num_vis"] == 3072


def test_classes_are_balanced():
    labels = parse_batch(generate_batches(train=0, test=1000, seed=0)["test_batch"], "t").labels
    assert np.bincount(labels, minlength=10).tolist() == [100] * 10


def test_archive_holds_the_folder_and_its_md5_sidecar_is_right(generated):
    root, folder = generated
    archive = root / GENERATED_ARCHIVE
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
        assert tar.getnames()[1] == f"{CIFAR10_FOLDER}/{GENERATED_MARK}"       # the mark before the batches
    assert members == {f"{CIFAR10_FOLDER}/{p.name}": p.read_bytes() for p in folder.iterdir()}
    digest, name = (root / (GENERATED_ARCHIVE + ".md5")).read_text().split()
    assert (digest, name) == (hashlib.md5(archive.read_bytes()).hexdigest(), GENERATED_ARCHIVE)


def test_generated_data_are_known_wherever_they_are_looked_at(generated, tmp_path):
    root, folder = generated
    assert is_generated(root / GENERATED_ARCHIVE) and is_generated(folder / "test_batch")
    only_archive = tmp_path / "only_archive"
    only_archive.mkdir()
    (only_archive / GENERATED_ARCHIVE).write_bytes((root / GENERATED_ARCHIVE).read_bytes())
    assert is_generated(only_archive)
    real = tmp_path / "real"
    (real / CIFAR10_FOLDER).mkdir(parents=True)
    (real / CIFAR10_FOLDER / "test_batch").write_bytes((folder / "test_batch").read_bytes())
    (real / GENERATED_ARCHIVE).write_bytes(b"x")                    # read: the folder, which has no mark
    assert not is_generated(real) and not is_generated(real / CIFAR10_FOLDER)


def test_same_seed_same_bytes_and_test_split_independent_of_train(generated, tmp_path):
    root, folder = generated
    again = write_cifar10(tmp_path / "again", train=53, test=40, seed=3, archive=True)
    for path in folder.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    assert (tmp_path / "again" / GENERATED_ARCHIVE).read_bytes() == (root / GENERATED_ARCHIVE).read_bytes()
    no_train = generate_batches(train=0, test=40, seed=3)
    assert no_train["test_batch"] == (folder / "test_batch").read_bytes()
    assert "data_batch_1" not in no_train
    assert generate_batches(train=0, test=40, seed=4)["test_batch"] != no_train["test_batch"]


@pytest.mark.parametrize("train, test, seed, message", [
    (-1, 10, 0, "need train ≥ 0"), (0, 0, 0, "need train ≥ 0"), (0, 10, -1, "need train ≥ 0"),
    (0, 10_001, 0, "at most"), (50_001, 10, 0, "at most"),        # more than a CIFAR-10 batch file holds
])
def test_bad_counts(tmp_path, train, test, seed, message):
    with pytest.raises(GenetError, match=message):
        write_cifar10(tmp_path, train=train, test=test, seed=seed)
    assert not list(tmp_path.iterdir())


def test_never_replaces_a_data_set_it_did_not_generate(tmp_path):
    real = tmp_path / CIFAR10_FOLDER
    real.mkdir()
    for name in ("test_batch", "batches.meta", "readme.html"):
        (real / name).write_text("the user's download")
    with pytest.raises(GenetError, match="did not generate"):
        write_cifar10(tmp_path, train=0, test=10)
    assert {p.name: p.read_text() for p in real.iterdir()} == dict.fromkeys(
        ["test_batch", "batches.meta", "readme.html"], "the user's download")
    assert sorted(p.name for p in tmp_path.iterdir()) == [CIFAR10_FOLDER]
    write_cifar10(tmp_path / "gen", train=0, test=10)
    write_cifar10(tmp_path / "gen", train=0, test=12)                 # its own output: replaced


def _split(files: dict, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    parts = [parse_batch(files[name], name) for name in names]
    return np.concatenate([p.data for p in parts]), np.concatenate([p.labels for p in parts])


def test_no_single_pixel_and_no_mean_colour_tells_the_classes_apart():
    data, labels = _split(generate_batches(train=0, test=1000, seed=1), ["test_batch"])
    pixels = data.astype(np.float32)
    # classify each image by each pixel alone: the class whose mean value there is nearest
    nearest, distance = np.zeros(pixels.shape, np.int64), np.full(pixels.shape, np.inf, np.float32)
    for k in range(10):
        to_mean = np.abs(pixels - pixels[labels == k].mean(0))
        closer = to_mean < distance
        nearest[closer], distance[closer] = k, to_mean[closer]
    best_single_pixel = (nearest == labels[:, None]).mean(0).max()
    colour = pixels.reshape(-1, 3, 1024).mean(2)
    colour_means = np.stack([colour[labels == k].mean(0) for k in range(10)])
    by_colour = ((colour[:, None] - colour_means[None]) ** 2).sum(2).argmin(1)
    assert best_single_pixel < 0.3, best_single_pixel              # chance is 0.1
    assert (by_colour == labels).mean() < 0.5                       # colour narrows it to two classes


@pytest.fixture
def one_torch_thread():
    """On a shared 2-core box, spinning OpenMP threads cost far more than they give."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_tiny_genet_learns_the_classes_in_a_few_dozen_steps(one_torch_thread):
    files = generate_batches(train=2000, test=500, seed=0)
    data, labels = _split(files, TRAIN_FILES)
    images, labels = torch.from_numpy(normalize(data)), torch.from_numpy(labels)
    test_data, test_labels = _split(files, ["test_batch"])
    torch.manual_seed(0)
    model = build_model(TINY)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    order = torch.randperm(len(labels))
    for step in range(60):
        batch = order[(step * 32) % len(order):][:32]
        loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(normalize(test_data))).argmax(1).numpy()
    assert (predicted == test_labels).mean() > 0.5                   # chance is 0.1


def test_command_line(tmp_path, capsys):
    assert main([str(tmp_path / "ds"), "--train", "0", "--test", "12", "--seed", "5", "--archive"]) == 0
    assert "not CIFAR-10" in capsys.readouterr().out
    assert (tmp_path / "ds" / CIFAR10_FOLDER / "test_batch").read_bytes() == \
        generate_batches(train=0, test=12, seed=5)["test_batch"]
    assert (tmp_path / "ds" / GENERATED_ARCHIVE).is_file()
    with pytest.raises(GenetError, match="invalid int value"):
        main([str(tmp_path / "bad"), "--test", "x"])
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_the_library_does_not_import_the_command_line():
    code = "import sys, genet.data.synthetic; print(any(m.startswith('genet.cli') for m in sys.modules))"
    result = run_script("-c", code)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


@pytest.mark.slow
def test_module_command_line(tmp_path):
    result = run_script("-m", "genet.cli.synthetic", str(tmp_path / "ds"), "--train", "0", "--test", "12")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ds" / CIFAR10_FOLDER / "test_batch").is_file()
    old = run_script("-m", "genet.data.synthetic", str(tmp_path / "old"))          # the library: says where to go
    assert old.returncode == 2 and "genet.cli.synthetic" in old.stderr and not (tmp_path / "old").exists()
    bad = run_script("-m", "genet.cli.synthetic", str(tmp_path / "bad"), "--test", "0")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "error: need train" in bad.stderr
    assert not (tmp_path / "bad").exists()
