"""Atomic file writes: temp file in the target's folder, fsync, rename over the target, fsync the
folder. Readers see the old file or the new one, never a partial one."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, BinaryIO, Callable, Optional


def atomic_write(path: str, write: Callable[[BinaryIO], None],
                 verify: Optional[Callable[[str], None]] = None,
                 keep_previous: Optional[str] = None) -> None:
    """Call ``write(file)`` on a binary temp file, fsync it, run ``verify(temp_path)`` (which raises
    if the file is unusable; the target is then left untouched), keep the current ``path`` as
    ``keep_previous`` when given, then rename the temp file over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(tmp)
        if keep_previous and os.path.isfile(path):
            _link_or_copy(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(folder)


def _link_or_copy(src: str, dst: str) -> None:
    """``dst`` becomes (atomically) the file ``src`` is now: a hard link, or a copy where the file
    system has none."""
    folder = os.path.dirname(os.path.abspath(dst))
    tmp = os.path.join(folder, "." + os.path.basename(dst) + ".link.tmp")
    if os.path.exists(tmp):
        os.remove(tmp)
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        if os.path.exists(tmp):
            os.remove(tmp)
        atomic_copy(src, dst)


def atomic_copy(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` atomically."""
    import shutil

    def copy(f):
        with open(src, "rb") as source:
            shutil.copyfileobj(source, f)
    atomic_write(dst, copy)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(obj: Any, path: str) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


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
