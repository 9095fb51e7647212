"""One training per run folder: an OS file lock (``fcntl.flock``) on ``<run>/.lock``, held from
before the run reads or writes anything in the folder until it ends. The kernel drops the lock when
the process ends in any way (``kill -9`` included), so a lock is never stale; the file itself is
removed on a normal exit. A second training in the same folder gets :class:`RunFolderLocked`
(exit status 2) naming the process that holds it. ``--fresh`` (``clear_run``) removes what an
earlier run wrote, while the lock is held."""
from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import os
import shutil
import socket
import time
from typing import Callable, List, Optional, Tuple

from softpool3d.config import ConfigError

LOCK = ".lock"
# what a training writes into its run folder (what --fresh removes); anything else is left alone
RUN_FILES = ("*.pth", ".*.tmp", "config.yaml", "metrics.jsonl", "tb", "results.json",
             "test_results.json", "test*_confusion.*", "test*_scores.npz")


class RunFolderLocked(ConfigError):
    """Another training holds the run folder's lock."""


def _holder(path: str) -> str:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        text = ""
    return f" ({text})" if text else ""


class RunLock:
    """The lock of one run folder; ``acquire()`` raises RunFolderLocked when another process
    holds it. The folder is created if needed (and removed again on release if it is still empty
    then)."""

    def __init__(self, folder: str):
        self.folder = os.path.abspath(folder)
        self.path = os.path.join(self.folder, LOCK)
        self.fd: Optional[int] = None
        self.created = False

    def acquire(self) -> "RunLock":
        try:
            return self._acquire()
        except OSError as e:  # not creatable or not writable: the run could not write there
            raise ConfigError(f"{self.folder}: cannot use it as the run folder "
                              f"({e.strerror or e})") from None

    def _acquire(self) -> "RunLock":
        self.created = not os.path.isdir(self.folder)
        os.makedirs(self.folder, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                self._cleanup_folder()
                raise RunFolderLocked(
                    f"{self.folder}: another training is running in this folder{_holder(self.path)}"
                    f"; nothing was read or written. Wait for it to finish, stop it, or pass "
                    f"another --output-dir.") from None
            # the holder before us may have removed the file between our open and our lock: then
            # we hold a lock on a file nobody else can find; take the one at the path instead
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.remove(self.path)  # while still locked: a waiting process re-checks the path
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        self._cleanup_folder()

    def _cleanup_folder(self) -> None:
        if self.created:
            with contextlib.suppress(OSError):
                os.rmdir(self.folder)  # only when empty: a run that wrote nothing leaves nothing

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def hold(folder: str, main: bool = True, agree: Optional[Callable] = None):
    """The folder's lock, taken by the main process only (the only writer); ``agree(error)``
    (a broadcast from rank 0) hands rank 0's outcome to the other ranks, so every rank stops when
    the folder is taken."""
    lock = RunLock(folder) if main else None
    error = None
    if lock is not None:
        try:
            lock.acquire()
        except ConfigError as e:  # taken, or not usable
            error = str(e)
    if agree is not None:
        error = agree(error)
    if error is not None:
        raise RunFolderLocked(error)
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()


def run_files(folder: str) -> List[str]:
    """The entries of ``folder`` that a training wrote (``RUN_FILES``), sorted."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(n for n in names
                  if n != LOCK and any(fnmatch.fnmatchcase(n, p) for p in RUN_FILES))


def clear_run(folder: str) -> Tuple[List[str], List[str]]:
    """Remove what an earlier training wrote into ``folder`` (checkpoints, config, logs, results),
    so a fresh run mixes nothing of it into its own files. Returns ``(removed, kept)``: the names
    removed and the other entries left in place (not written by a training)."""
    removed = run_files(folder)
    for name in removed:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    kept = sorted(n for n in os.listdir(folder) if n != LOCK) if os.path.isdir(folder) else []
    return removed, kept
