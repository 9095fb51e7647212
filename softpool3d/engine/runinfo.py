"""Facts about a run for ``results.json``: git commit, package versions, peak memory."""
from __future__ import annotations

import os
import platform
import resource
import sys
from importlib import metadata
from typing import Dict, Optional

import torch

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


def peak_memory(device: torch.device) -> Dict[str, object]:
    """CUDA: ``max_memory_allocated`` of this process; CPU: peak resident set size (getrusage)."""
    if device.type == "cuda":
        return {"kind": "cuda_max_memory_allocated",
                "bytes": int(torch.cuda.max_memory_allocated(device))}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB
    return {"kind": "cpu_peak_rss", "bytes": int(rss * scale)}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
