"""The outcome writer's journal: append-only segment files, one set per process, one directory.

Files of an owner (one writer in one process), all in the spool directory:
  <owner>.lock          held with flock(LOCK_EX) for the owner's life; the kernel drops it
                        when the process dies, even by kill -9, so a free lock = an orphan
  <owner>.<seq>.seg     a header line (the format), then one encoded outcome per line
  <owner>.ckpt          "<seq> <offset>": everything before it is committed to the database
  <owner>.rejected      lines the database refused, kept for an operator
A line is acknowledged once `append` returns: it is in the OS page cache, which outlives
the process. The checkpoint is an optimisation only: replaying committed lines is harmless,
because the database ignores request ids it already has. One thread appends at a time
(under a lock); one consumer thread reads batches and commits them.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

_SEGMENT = re.compile(r"(?P<owner>[a-z0-9-]+)\.(?P<seq>\d{8})\.seg")
_LOCK = re.compile(r"(?P<owner>[a-z0-9-]+)\.lock")
_SLACK = 4096  # bytes read beyond the estimate, for lines longer than the average


class SpoolError(Exception):
    """Base class of the spool's errors."""


class SpoolFullError(SpoolError):
    """The spool holds its configured maximum; the outcome was not recorded."""


class SpoolFormatError(SpoolError):
    """A segment was written in a format this version cannot read."""


@dataclass
class _Segment:
    owner: str
    seq: int
    path: Path
    fd: int
    size: int  # bytes of complete lines, header included
    committed: int  # offset up to which the database has everything
    lines: int  # lines not yet committed
    synced: int = 0


@dataclass(frozen=True)
class SpoolBatch:
    """Consecutive lines of one segment, from byte `start` to `end`."""

    segment: _Segment
    start: int
    end: int
    lines: list[bytes]


@dataclass
class _Owner:
    name: str
    lock_fd: int
    checkpoint_fd: int


class OutcomeSpool:
    """Segments of this process (appended) and of dead processes (adopted, replayed)."""

    def __init__(self, directory: Path, *, header: bytes, max_bytes: int, segment_bytes: int):
        self.directory = directory
        self.max_bytes = max_bytes
        self._header = header + b"\n"
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []  # oldest first; adopted ones ahead of ours
        self._owners: dict[str, _Owner] = {}
        self._me = ""
        self._active: _Segment | None = None
        self.bytes = 0
        self.backlog = 0
        self.appended = 0  # lines acknowledged by this spool since it opened
        self.refused = 0
        self.rejected = 0
        self.foreign: set[str] = set()  # segments left alone: written in another format

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Take an owner name and its lock, adopt orphans, start the first segment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._me = f"p{os.getpid()}-{secrets.token_hex(4)}"
        temporary = self.directory / f".{self._me}.lock.tmp"
        lock_fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Renamed only once locked: nobody can mistake a starting owner for an orphan.
        temporary.rename(self._lock_path(self._me))
        self._owners[self._me] = _Owner(self._me, lock_fd, self._open_checkpoint(self._me))
        self.adopt_orphans()
        with self._lock:
            self._start_segment(0)

    def close(self) -> None:
        """Release this owner. Files are removed only if everything was committed; a
        later process adopts what is left."""
        with self._lock:
            self._active = None
            for segment in list(self._segments):
                if segment.committed == segment.size:
                    self._drop(segment)
                else:
                    os.close(segment.fd)
            self._segments.clear()
            for owner in list(self._owners.values()):
                self._release(owner, remove=not self._files_of(owner.name))
            self._owners.clear()

    # -- the request path ----------------------------------------------------------------

    def append(self, line: bytes) -> None:
        """Journal one line (newline included); raises `SpoolFullError` when there is no room."""
        with self._lock:
            active = self._active
            if active is None:
                raise SpoolError("the spool is not open")
            if self.bytes + len(line) > self.max_bytes:
                self.refused += 1
                raise SpoolFullError(
                    f"the outcome spool holds {self.bytes} bytes of its {self.max_bytes}"
                )
            if active.size + len(line) > self._segment_bytes and active.size > len(self._header):
                active = self._start_segment(active.seq + 1)
            try:
                written = os.write(active.fd, line)
            except OSError as exc:  # ENOSPC with nothing written, EIO, …
                self.refused += 1
                raise SpoolFullError(
                    f"the outcome spool cannot be written ({exc.strerror})"
                ) from exc
            if written != len(line):  # a full disk: undo the torn line
                os.ftruncate(active.fd, active.size)
                self.refused += 1
                raise SpoolFullError("the disk under the outcome spool is full")
            active.size += written
            active.lines += 1
            self.bytes += written
            self.backlog += 1
            self.appended += 1

    @property
    def full(self) -> bool:
        """Within 8 KiB of the limit (an outcome line is far smaller): readiness turns
        traffic away just before outcomes would be refused."""
        return self.bytes + 8192 > self.max_bytes

    # -- the consumer ----------------------------------------------------------------------

    def next_batch(self, max_lines: int) -> SpoolBatch | None:
        """Up to `max_lines` uncommitted lines of the oldest segment that has any."""
        with self._lock:
            for done in [s for s in self._segments if s.committed == s.size]:
                if done is not self._active:
                    self._drop(done)
            segment = next((s for s in self._segments if s.committed < s.size), None)
            if segment is None:
                return None
            start, size, pending = segment.committed, segment.size, segment.lines
        # Read about `max_lines` lines' worth: the pending lines' average length says how much.
        want = size - start
        if pending > max_lines:
            want = min(want, (want // pending + 1) * max_lines + _SLACK)
        data = os.pread(segment.fd, want, start)
        lines = data[: data.rfind(b"\n") + 1].splitlines(keepends=True)[:max_lines]
        if not lines:  # a single line longer than the read: read it whole
            data = os.pread(segment.fd, size - start, start)
            lines = data[: data.find(b"\n") + 1].splitlines(keepends=True)
        return SpoolBatch(segment, start, start + sum(map(len, lines)), lines)

    def commit(self, batch: SpoolBatch) -> None:
        """The database has every line of `batch`: advance the checkpoint, drop done segments."""
        with self._lock:
            segment = batch.segment
            if batch.start != segment.committed:
                raise SpoolError("batches must be committed in order, once each")
            segment.committed = batch.end
            segment.lines -= len(batch.lines)
            self.backlog -= len(batch.lines)
            owner = self._owners[segment.owner]
            if segment is self._active and self._worth_rotating(segment):
                self._start_segment(segment.seq + 1)  # so the committed bytes can go
            if segment is not self._active and segment.committed == segment.size:
                self._drop(segment)
                following = [s for s in self._segments if s.owner == owner.name]
                if not following and owner.name != self._me:
                    self._release(owner, remove=True)
                    return
                segment = following[0] if following else segment
            _write_checkpoint(owner.checkpoint_fd, segment.seq, segment.committed)

    def reject(self, lines: list[bytes]) -> None:
        """Keep lines the database refused in `<owner>.rejected` for an operator."""
        path = self.directory / f"{self._me}.rejected"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"".join(lines))
        finally:
            os.close(fd)
        with self._lock:
            self.rejected += len(lines)

    def sync(self) -> None:
        """fdatasync segments with bytes the disk has not confirmed (survives power loss)."""
        with self._lock:
            dirty = [(s, s.size) for s in self._segments if s.synced < s.size]
        for segment, size in dirty:
            os.fdatasync(segment.fd)
            segment.synced = size

    # -- orphans -----------------------------------------------------------------------------

    def adopt_orphans(self) -> int:
        """Take over the segments of owners whose process is gone; returns how many."""
        names = os.listdir(self.directory)
        owners = {
            m["owner"] for name in names if (m := _SEGMENT.fullmatch(name) or _LOCK.fullmatch(name))
        }
        adopted = 0
        for owner in sorted(owners - set(self._owners)):
            lock_fd = self._lock_orphan(owner)
            if lock_fd is not None:
                adopted += self._adopt(owner, lock_fd)
        return adopted

    def _lock_orphan(self, owner: str) -> int | None:
        path = self._lock_path(owner)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # its cleanup was cut short: claim the name ourselves
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # alive, or being adopted by someone else
            os.close(fd)
            return None
        if not path.exists() or os.fstat(fd).st_ino != path.stat().st_ino:
            os.close(fd)  # adopted and removed while we were opening it
            return None
        return fd

    def _adopt(self, owner: str, lock_fd: int) -> int:
        checkpoint_fd = self._open_checkpoint(owner)
        done_seq, done_offset = _read_checkpoint(checkpoint_fd)
        record = _Owner(owner, lock_fd, checkpoint_fd)
        segments = []
        for path in sorted(self.directory.glob(f"{owner}.*.seg")):
            seq = int(path.name.split(".")[1])
            committed = 0 if seq != done_seq else done_offset
            segment = None if seq < done_seq else self._reopen(owner, seq, path, committed)
            if segment is None:
                if path.name not in self.foreign:
                    path.unlink()
            else:
                segments.append(segment)
        with self._lock:
            if not segments:
                self._release(record, remove=not self._files_of(owner))
                return 0
            self._owners[owner] = record
            ours = [s for s in self._segments if s.owner == self._me]
            others = [s for s in self._segments if s.owner != self._me]
            self._segments = others + segments + ours
            for segment in segments:
                self.bytes += segment.size
                self.backlog += segment.lines
        return len(segments)

    def _reopen(self, owner: str, seq: int, path: Path, committed: int) -> _Segment | None:
        """An orphan's segment ready to replay, or None if it holds nothing to replay."""
        fd = os.open(path, os.O_RDONLY)
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        if not data.startswith(self._header):
            os.close(fd)
            if self._header.startswith(data):
                return None  # died while writing the header: nothing was ever appended
            self.foreign.add(path.name)
            return None
        size = data.rfind(b"\n") + 1  # a torn last line was never acknowledged
        committed = min(max(committed, len(self._header)), size)
        lines = data.count(b"\n", committed, size)
        if not lines:
            os.close(fd)
            return None
        return _Segment(owner, seq, path, fd, size, committed, lines, synced=size)

    # -- helpers (callers hold the lock where state changes) -------------------------------

    def _start_segment(self, seq: int) -> _Segment:
        path = self.directory / f"{self._me}.{seq:08d}.seg"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        os.write(fd, self._header)
        segment = _Segment(self._me, seq, path, fd, len(self._header), len(self._header), 0)
        # The segment it replaces is dropped by the consumer once committed (`next_batch`):
        # only the consumer closes files, so its reads and syncs never meet a closed fd.
        self._segments.append(segment)
        self._active = segment
        self.bytes += segment.size
        return segment

    def _worth_rotating(self, segment: _Segment) -> bool:
        return segment.committed == segment.size >= self._segment_bytes // 2

    def _drop(self, segment: _Segment) -> None:
        os.close(segment.fd)
        segment.path.unlink(missing_ok=True)
        self._segments.remove(segment)
        self.bytes -= segment.size

    def _release(self, owner: _Owner, *, remove: bool) -> None:
        os.close(owner.checkpoint_fd)
        if remove:
            (self.directory / f"{owner.name}.ckpt").unlink(missing_ok=True)
            self._lock_path(owner.name).unlink(missing_ok=True)
        os.close(owner.lock_fd)  # unlinked first, so no one locks a name being removed
        self._owners.pop(owner.name, None)

    def _files_of(self, owner: str) -> list[Path]:
        return sorted(self.directory.glob(f"{owner}.*.seg"))

    def _lock_path(self, owner: str) -> Path:
        return self.directory / f"{owner}.lock"

    def _open_checkpoint(self, owner: str) -> int:
        return os.open(self.directory / f"{owner}.ckpt", os.O_RDWR | os.O_CREAT, 0o600)


def _write_checkpoint(fd: int, seq: int, offset: int) -> None:
    # Fixed width, one pwrite: a reader sees the old record or the new one, never a mix.
    os.pwrite(fd, f"{seq:08d} {offset:016d}\n".encode(), 0)


def _read_checkpoint(fd: int) -> tuple[int, int]:
    """(seq, offset) committed, or (-1, 0) when unknown: then everything is replayed."""
    fields = os.pread(fd, 64, 0).split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        return -1, 0
    return int(fields[0]), int(fields[1])
