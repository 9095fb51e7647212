"""Facts about a run for ``results.json``: git commit and package versions; the device's name and
the process's peak memory come from :mod:`softpool3d.runtime` (re-exported under the names
``engine.run`` calls)."""
from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Dict, Optional

from ..runtime import device_name  # noqa: F401  (re-exported)
from ..runtime import process_peak_memory as peak_memory  # noqa: F401  (re-exported)

PACKAGES = ("torch", "torchvision", "pytorchvideo", "fvcore", "numpy", "decord", "decord2", "av",
            "softpool3d")


def git_commit(start: str = ".") -> Optional[str]:
    """The checked-out commit, read from ``.git`` (no git executable needed); None outside a repo or
    before the first commit."""
    path = os.path.abspath(start)
    while True:
        git = os.path.join(path, ".git")
        if os.path.isdir(git):
            break
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    try:
        head = open(os.path.join(git, "HEAD")).read().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head
    ref = head[4:].strip()
    ref_file = os.path.join(git, ref)
    if os.path.isfile(ref_file):
        return open(ref_file).read().strip()
    packed = os.path.join(git, "packed-refs")
    if os.path.isfile(packed):
        for line in open(packed):
            parts = line.strip().split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def package_versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
