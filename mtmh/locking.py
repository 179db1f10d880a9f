"""One run at a time: an exclusive lock on a file, released when its holder dies.

Two retraining runs in one project would overwrite each other's artifacts and race to
move the model aliases. The lock is an OS advisory lock (``flock``) on a file, so a run
that is killed, however hard, releases it with its process: a lock can never be left
stale. The file also records who holds it (pid, host, start time, purpose), which the
next run reads to say whom it waits for, or whose dead run it takes over from.

``flock`` is reliable on local disks; on network file systems use one runner per project.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)


class LockTimeout(RuntimeError):
    """Another live process held the lock for longer than we were willing to wait."""


@dataclass
class Holder:
    """Who holds (or last held) a lock."""

    pid: int
    host: str
    since: float
    purpose: str = ""

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        what = f" ({self.purpose})" if self.purpose else ""
        return f"pid {self.pid} on {self.host} since {started}{what}"


def read_holder(path: str | Path) -> Holder | None:
    """The holder recorded in a lock file, or None when it is absent or unreadable."""
    try:
        raw = json.loads(Path(path).read_text())
        return Holder(int(raw["pid"]), str(raw["host"]), float(raw["since"]),
                      str(raw.get("purpose", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class FileLock:
    """An exclusive, non-reentrant lock on ``path``; use it as a context manager.

    Parameters
    ----------
    path
        The lock file; created (with its folder) when missing, never deleted.
    timeout
        Seconds to wait for a live holder before :class:`LockTimeout`; 0 fails at once.
    poll
        Seconds between attempts while waiting.
    purpose
        Recorded in the file for whoever waits next (e.g. the flow-run id).
    """

    def __init__(self, path: str | Path, *, timeout: float = 0.0, poll: float = 0.5,
                 purpose: str = "") -> None:
        self.path = Path(path)
        self.timeout = float(timeout)
        self.poll = float(poll)
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FileLock:
        """Take the lock, waiting up to ``timeout`` seconds for a live holder."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: this lock is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = read_holder(self.path)
                        who = holder.describe() if holder else "another process"
                        raise LockTimeout(
                            f"{self.path} is held by {who}; waited {self.timeout:g} s "
                            f"(orchestration.lock_timeout_seconds). Another run is "
                            f"writing the artifacts and aliases; try again when it ends"
                        ) from None
                    time.sleep(self.poll)
        except BaseException:
            os.close(fd)
            raise

        previous = read_holder(self.path)
        if previous is not None:
            # The lock was free, so whoever the file names ended without releasing it.
            logger.warning("%s: taking over from %s, which ended without releasing it "
                           "(killed or crashed)", self.path, previous.describe())
        me = Holder(os.getpid(), socket.gethostname(), time.time(), self.purpose)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(me)) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        logger.debug("%s: acquired by %s", self.path, me.describe())
        return self

    def release(self) -> None:
        """Clear the holder record, then drop the lock; a no-op when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # An empty file tells the next holder that this run ended cleanly.
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
