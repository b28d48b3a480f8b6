"""``check_output``: the same file by any path is refused; a new or different file is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radtrust.data.io import check_output
from radtrust.errors import InputError


def test_the_same_file_by_any_path_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "reports.csv"
    src.write_text("case_id,findings\nS1,Normal.\n")
    os.symlink(src, tmp_path / "link.csv")
    os.link(src, tmp_path / "hard.csv")
    for out in (src, tmp_path / "link.csv", tmp_path / "hard.csv", tmp_path / "sub" / ".." / "reports.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(InputError, match="the output is the input"):
            check_output(out, [None, tmp_path / "other.csv", src])


def test_a_new_or_different_file_passes(tmp_path: Path) -> None:
    src = tmp_path / "reports.csv"
    src.write_text("x")
    other = tmp_path / "labels.csv"
    other.write_text("x")  # same content, different file
    check_output(tmp_path / "new.csv", [src])
    check_output(other, [src, None])
