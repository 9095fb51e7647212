"""Atomic file writes, for every part that writes (config, engine, datasets): the bytes go to a
hidden temporary file beside the target (``.<name>.<random>.partial``), are fsync'ed, renamed over
the target, and the folder is fsync'ed. Readers see the old file or the new one, never a partial
one; a writer that fails or is interrupted leaves at most its ``.partial`` file (removed on failure,
found by :func:`leftovers` after a kill). Imports nothing of the package."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any, BinaryIO, Callable, Iterator, List, Optional

SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path`` to write (by name: an encoder, a streaming writer).
    On a clean exit it is fsync'ed and renamed over ``path``; on an exception it is removed and the
    target left untouched."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=SUFFIX, dir=folder)
    os.close(fd)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(folder)


def atomic_write(path: str, write: Callable[[BinaryIO], None],
                 verify: Optional[Callable[[str], None]] = None,
                 keep_previous: Optional[str] = None) -> None:
    """Call ``write(file)`` on a binary temp file, run ``verify(temp_path)`` (which raises if the
    file is unusable; the target is then left untouched), keep the current ``path`` as
    ``keep_previous`` when given, then rename the temp file over ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(tmp)
        if keep_previous and os.path.isfile(path):
            _link_or_copy(path, keep_previous)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(obj: Any, path: str) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def atomic_copy(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` atomically."""
    def copy(f):
        with open(src, "rb") as source:
            shutil.copyfileobj(source, f)
    atomic_write(dst, copy)


def partial_path(path: str) -> str:
    """The plain temporary name of ``path`` (``.<name>.partial``), as older writers left it."""
    return os.path.join(os.path.dirname(os.path.abspath(path)),
                        "." + os.path.basename(path) + SUFFIX)


def leftovers(path: str) -> List[str]:
    """The temporary files that interrupted writers of ``path`` left beside it."""
    folder = os.path.dirname(os.path.abspath(path))
    stem = "." + os.path.basename(path)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(folder, n) for n in names if n == stem + SUFFIX
                  or (n.startswith(stem + ".") and n.endswith(SUFFIX)))


def remove_leftovers(path: str) -> None:
    for tmp in leftovers(path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _link_or_copy(src: str, dst: str) -> None:
    """``dst`` becomes (atomically) the file ``src`` is now: a hard link, or a copy where the file
    system has none."""
    folder = os.path.dirname(os.path.abspath(dst))
    tmp = os.path.join(folder, "." + os.path.basename(dst) + ".link" + SUFFIX)
    if os.path.exists(tmp):
        os.remove(tmp)
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        if os.path.exists(tmp):
            os.remove(tmp)
        atomic_copy(src, dst)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str) -> None:
    """fsync a folder (the rename inside it survives a power loss); a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
