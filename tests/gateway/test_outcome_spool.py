"""The journal: lines come back in order and once; segments rotate and go once committed;
a dead process's uncommitted lines are adopted by the next one, a live one's never."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.outcome_spool import OutcomeSpool, SpoolFullError
from registry.outcomes import FORMAT
from tests.gateway.conftest import child


def spool_in(
    directory: Path, *, max_bytes: int = 1 << 30, segment_bytes: int = 1 << 20
) -> OutcomeSpool:
    spool = OutcomeSpool(directory, header=FORMAT, max_bytes=max_bytes, segment_bytes=segment_bytes)
    spool.open()
    return spool


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[OutcomeSpool]:
    spool = spool_in(tmp_path)
    yield spool
    spool.close()


def drain(spool: OutcomeSpool, size: int = 1000, commit: bool = True) -> list[bytes]:
    """Every uncommitted line, in batches of `size`, committing each."""
    lines: list[bytes] = []
    while (batch := spool.next_batch(size)) is not None:
        lines += batch.lines
        if not commit:
            break
        spool.commit(batch)
    return lines


def lines(n: int, prefix: str = "line") -> list[bytes]:
    return [f"{prefix}-{i}\n".encode() for i in range(n)]


def segments(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.seg"))


def killed_owner(directory: Path, append: int, commit: int, segment_bytes: int = 1 << 20) -> None:
    process = child(
        "-m",
        "tests.gateway.spool_child",
        str(directory),
        str(append),
        str(commit),
        str(segment_bytes),
    )
    out, err = process.communicate(timeout=60)
    assert out == "ready\n", err
    assert process.returncode == -9


def test_lines_come_back_in_order_once_committed(spool: OutcomeSpool) -> None:
    for line in lines(25):
        spool.append(line)
    assert spool.backlog == 25 and spool.appended == 25
    first = spool.next_batch(10)
    assert first is not None and first.lines == lines(25)[:10]
    assert spool.next_batch(10) == first  # not committed: read again
    spool.commit(first)
    assert drain(spool, 10) == lines(25)[10:]
    assert spool.backlog == 0 and spool.next_batch(10) is None


def test_segments_rotate_and_committed_ones_are_deleted(tmp_path: Path) -> None:
    spool = spool_in(tmp_path, segment_bytes=1024)
    for line in lines(300):  # ~3 KB
        spool.append(line)
    assert len(segments(tmp_path)) >= 3
    assert drain(spool, 50) == lines(300)
    spool.next_batch(1)  # the consumer drops finished segments it passes
    assert len(segments(tmp_path)) == 1  # the active one
    on_disk = sum(path.stat().st_size for path in tmp_path.glob("*.seg"))
    assert spool.bytes == on_disk
    spool.close()
    assert os.listdir(tmp_path) == []  # all committed: nothing left behind


def test_a_dead_processs_uncommitted_lines_are_adopted(tmp_path: Path) -> None:
    killed_owner(tmp_path, append=100, commit=37, segment_bytes=256)
    assert len(segments(tmp_path)) > 1
    spool = spool_in(tmp_path)
    assert spool.backlog == 63
    assert drain(spool, 9) == lines(100)[37:]
    spool.close()
    assert os.listdir(tmp_path) == []


def test_adoption_survives_the_adopter_dying_too(tmp_path: Path) -> None:
    """The adopter commits into the dead owner's checkpoint, so a third process resumes there."""
    killed_owner(tmp_path, append=60, commit=10)
    adopter = spool_in(tmp_path)
    batch = adopter.next_batch(20)
    assert batch is not None
    adopter.commit(batch)
    adopter.close()  # as good as dead for the orphan's files: its lock is released
    third = spool_in(tmp_path)
    assert drain(third) == lines(60)[30:]
    third.close()


def test_a_live_owners_files_are_never_adopted(tmp_path: Path) -> None:
    first = spool_in(tmp_path)
    for line in lines(5):
        first.append(line)
    second = spool_in(tmp_path)
    assert second.adopt_orphans() == 0
    assert second.next_batch(10) is None
    assert drain(first) == lines(5)
    second.close()
    first.close()


def test_a_torn_last_line_is_dropped_on_adoption(tmp_path: Path) -> None:
    killed_owner(tmp_path, append=10, commit=0)
    [segment] = tmp_path.glob("*.seg")
    with segment.open("ab") as file:
        file.write(b"line-10-never-acknow")  # what kill -9 mid-write could leave
    spool = spool_in(tmp_path)
    assert drain(spool) == lines(10)
    spool.close()


def test_a_segment_in_another_format_is_left_alone(tmp_path: Path) -> None:
    foreign = tmp_path / "p1-deadbeef.00000000.seg"
    foreign.write_bytes(b"modelops-outcomes/99\nsomething\n")
    spool = spool_in(tmp_path)
    assert spool.foreign == {foreign.name}
    assert spool.next_batch(10) is None
    spool.close()
    assert foreign.exists()


def test_a_full_spool_refuses_until_the_database_catches_up(tmp_path: Path) -> None:
    spool = spool_in(tmp_path, max_bytes=20_000, segment_bytes=4096)
    appended = 0
    with pytest.raises(SpoolFullError, match="holds"):
        for line in lines(10_000):
            spool.append(line)
            appended += 1
    assert spool.full and spool.refused == 1 and spool.backlog == appended
    assert drain(spool, 100) == lines(appended)
    spool.next_batch(1)
    assert not spool.full
    spool.append(b"after\n")
    assert drain(spool) == [b"after\n"]
    spool.close()


def test_lines_far_longer_than_the_average_still_come_back_whole(spool: OutcomeSpool) -> None:
    mixed = [b"s\n"] * 50 + [b"L" * 20_000 + b"\n"] + [b"s\n"] * 50
    for line in mixed:
        spool.append(line)
    batches = []
    while (batch := spool.next_batch(10)) is not None:
        batches.append(batch.lines)
        spool.commit(batch)
    assert [line for lines in batches for line in lines] == mixed
    assert all(0 < len(lines) <= 10 for lines in batches)
