"""Input sources and batching (genet.bench.sources): the batch plan, .bin files, packed rows, random images, the
prefetcher."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from genet.bench.batches import Prefetcher, plan_batches, read_batches
from genet.bench.sources import BinFiles, ImageFiles, PackedImages, RandomImages
from genet.core.errors import GenetError
from genet.formats.info import read_numbered_info
from tests.runner_helpers import SHAPE, write_bins

# --- inputs and batching --------------------------------------------------------------------

@pytest.mark.parametrize("count, batch, pad, rows", [
    (1000, 64, False, [64] * 15 + [40]),
    (1000, 64, True, [64] * 16),
    (10, 16, False, [10]),
    (32, 16, True, [16, 16]),
])
def test_plan_covers_every_image_once(count, batch, pad, rows):
    spans = plan_batches(count, batch, pad)
    assert [s.rows for s in spans] == rows
    covered = [i for s in spans for i in range(s.start, s.stop)]
    assert covered == list(range(count))


def test_bin_files_are_read_in_order_and_padded_with_zeros(tmp_path):
    info, data = write_bins(tmp_path, 11)
    numbered = read_numbered_info(info)
    source = BinFiles(info, numbered, SHAPE)
    batches = list(read_batches(source, plan_batches(11, 4, True), SHAPE))
    assert [b.real for b in batches] == [4, 4, 3] and batches[-1].images.shape == (4, *SHAPE)
    np.testing.assert_array_equal(np.concatenate([b.images[:b.real] for b in batches]), data)
    assert not batches[-1].images[3:].any()
    assert [s for b in batches for s in b.stems] == [f"{i:05d}" for i in range(11)]


def test_info_line_numbers_skip_blank_lines(tmp_path):
    info, _ = write_bins(tmp_path, 3)
    info.write_text("\n" + info.read_text().replace("\n", "\n\n", 1))
    (tmp_path / "prep_dataset" / "00002.bin").unlink()
    with pytest.raises(GenetError, match=r"prep_bin\.info:5: input file .*00002\.bin not found"):
        BinFiles(info, read_numbered_info(info), SHAPE)


def test_packed_rows_follow_the_stems_and_are_taken_as_given(tmp_path):
    info, data = write_bins(tmp_path, 12)
    packed = tmp_path / "prep_dataset" / "images.npy"
    np.save(packed, data)
    lines = info.read_text().splitlines()
    info.write_text("\n".join([lines[7], lines[2], lines[11]]) + "\n")       # a subset, out of order
    source = PackedImages.for_info(packed, info, read_numbered_info(info), SHAPE)
    out = np.empty((3, *SHAPE), np.float32)
    source.read_into(0, 3, out)
    np.testing.assert_array_equal(out, data[[7, 2, 11]])
    np.save(packed, data[::-1].copy())      # other rows: --packed-input is the user's word (one proof: the manifest)
    PackedImages.for_info(packed, info, read_numbered_info(info), SHAPE).read_into(0, 3, out)
    np.testing.assert_array_equal(out, data[::-1][[7, 2, 11]])
    np.save(packed, data[:5])
    with pytest.raises(GenetError, match=r"prep_bin\.info:1: .*00007\.bin has no row"):
        PackedImages.for_info(packed, info, read_numbered_info(info), SHAPE)
    np.save(packed, data.astype(np.float64))
    with pytest.raises(GenetError, match="holds float64"):
        PackedImages.alone(packed, SHAPE)


def test_input_files_read_bin_and_npy_directly(tmp_path):
    data = np.random.default_rng(3).standard_normal((3, *SHAPE), dtype=np.float32)
    data[0].tofile(tmp_path / "a.bin")
    np.save(tmp_path / "b.npy", data[1])
    np.save(tmp_path / "c.npy", data[2][None].astype(np.float64))       # 1×C×H×W, float64: cast to float32
    source = ImageFiles.listed([tmp_path / "a.bin", tmp_path / "b.npy", tmp_path / "c.npy"], SHAPE)
    assert source.stems == ["a", "b", "c"] and source.count == 3
    out = np.empty((3, *SHAPE), np.float32)
    source.read_into(0, 3, out)
    np.testing.assert_array_equal(out, data)
    np.save(tmp_path / "b.npy", data[1][:2])
    with pytest.raises(GenetError, match=r"b\.npy: .*b\.npy holds 2048 values, expected 3072 \(one 3×32×32 image\)"):
        source.read_into(1, 2, out)


def test_random_images_are_not_zeros_and_reproducible():
    first, second = (np.empty((8, *SHAPE), np.float32) for _ in range(2))
    RandomImages(8, seed=5).read_into(0, 8, first)
    RandomImages(8, seed=5).read_into(0, 8, second)
    np.testing.assert_array_equal(first, second)
    assert 0.9 < first.std() < 1.1 and np.count_nonzero(first) == first.size


def test_random_images_come_from_a_pool_drawn_once():
    source = RandomImages(600)
    batches = [np.empty((100, *SHAPE), np.float32) for _ in range(6)]
    for i, batch in enumerate(batches):
        source.read_into(100 * i, 100 * (i + 1), batch)
    images = np.concatenate(batches)
    pool = RandomImages.POOL
    assert len(np.unique(images.reshape(600, -1), axis=0)) == pool          # every pool image, none twice in a row
    np.testing.assert_array_equal(images[pool:2 * pool], images[:pool])      # image i is pool row i % POOL


def test_prefetcher_forwards_producer_errors_and_stops_early():
    def failing():
        yield 1
        raise GenetError("line 2 is bad")

    with Prefetcher(failing(), depth=1) as items:
        with pytest.raises(GenetError, match="line 2 is bad"):
            list(items)
    produced = []
    gate = threading.Event()

    def endless():
        for i in range(10_000):
            produced.append(i)
            gate.set()
            yield i

    with Prefetcher(endless(), depth=2) as items:
        assert next(iter(items)) == 0
        gate.wait(5)
    assert len(produced) < 10                  # the producer stopped once the consumer left
