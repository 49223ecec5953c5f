"""Atomic writes: a failure mid-write leaves the old file whole and no temporary behind."""
import pandas as pd
import pytest

from paperlib import io


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "result.csv"
    io.write_text(target, "old,complete\n")

    class Exploding:
        def to_csv(self, path, index=False):
            with open(path, "w") as f:
                f.write("half a ro")
            raise OSError("disk went away")

    with pytest.raises(OSError):
        io.write_csv(target, Exploding())
    assert target.read_text() == "old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_writers_round_trip(tmp_path):
    frame = pd.DataFrame({"step": [0, 1], "lr": [0.1, 0.2]})
    io.write_csv(tmp_path / "a" / "f.csv", frame)
    assert pd.read_csv(tmp_path / "a" / "f.csv").equals(frame)
    io.write_json(tmp_path / "f.json", {"x": 1})
    assert (tmp_path / "f.json").read_text() == '{\n  "x": 1\n}\n'


def test_a_written_file_gets_the_permissions_open_would_give_it_not_a_private_one(tmp_path):
    import os
    os.umask(previous := os.umask(0o022))
    try:
        os.umask(0o022)
        path = io.write_text(tmp_path / "shared.txt", "readable by the group and others\n")
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)
