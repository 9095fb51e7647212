"""Facts about the machine a run or a profile executes on, one meaning each: the device's name, the
autocast context for an AMP setting, and the process's peak memory. The per-step memory of a
profile (bytes allocated during one call beyond what was allocated before it) is another quantity,
``softpool3d.profiling.measure_peak_memory``; the two are never stored under the same name."""
from __future__ import annotations

import contextlib
import platform
import resource
import sys
from typing import Dict

import torch

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def device_name(device: torch.device) -> str:
    """CUDA: the GPU's name; CPU: the processor's model name and the torch thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} ({torch.get_num_threads()} threads)"


def autocast(device: torch.device, amp: str):
    """``torch.autocast`` in ``amp``'s dtype (none|bf16|fp16) on ``device``, whatever its type; a
    null context for ``"none"``."""
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def cuda_autocast(device: torch.device, amp: str):
    """:func:`autocast` on CUDA, a null context elsewhere: how training and evaluation apply
    ``train.amp`` (on the CPU they run in float32 whatever the config says)."""
    return autocast(device, amp if torch.device(device).type == "cuda" else "none")


def process_peak_memory(device: torch.device) -> Dict[str, object]:
    """The process's high-water mark since it started (or since the last
    ``torch.cuda.reset_peak_memory_stats``), with ``kind`` naming what was read. CUDA:
    ``max_memory_allocated``; CPU: the peak resident set size (getrusage)."""
    device = torch.device(device)
    if device.type == "cuda":
        return {"kind": "cuda_max_memory_allocated",
                "bytes": int(torch.cuda.max_memory_allocated(device))}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB
    return {"kind": "cpu_peak_rss", "bytes": int(rss * scale)}
