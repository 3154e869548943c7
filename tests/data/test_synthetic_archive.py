"""genet.cli.synthetic --archive replaces only an archive (and .md5) it generated, checked first."""

from __future__ import annotations

import pytest

from genet.core.constants import GENERATED_ARCHIVE
from genet.core.errors import GenetError
from genet.data.synthetic import write_cifar10


@pytest.mark.parametrize("name", [GENERATED_ARCHIVE, GENERATED_ARCHIVE + ".md5"])
def test_a_users_file_of_the_archives_names_is_kept_and_nothing_written(tmp_path, name):
    (tmp_path / name).write_text("the user's\n")
    with pytest.raises(GenetError, match="not given on the command line"):
        write_cifar10(tmp_path, train=10, test=10, archive=True)
    assert (tmp_path / name).read_text() == "the user's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_its_own_archive_is_replaced(tmp_path):
    write_cifar10(tmp_path, train=10, test=10, archive=True)
    write_cifar10(tmp_path, train=10, test=10, seed=1, archive=True)
