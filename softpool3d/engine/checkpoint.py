"""Checkpoints written atomically (temp file + fsync + rename), ``last.pth`` and ``best.pth``, and
the full training state for an exact resume: model, optimiser, scheduler, AMP scaler, the RNG states
of every rank (python, numpy, torch, cuda), epoch and best metric."""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from typing import Any, Dict, List, Optional

import numpy as np
import torch

LAST, BEST = "last.pth", "best.pth"


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def rng_state() -> Dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_write(path: str, write) -> None:
    """Call ``write(file)`` on a temp file in ``path``'s folder, fsync, then rename over ``path``:
    readers see the old file or the new one, never a partial one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` atomically (see :func:`_atomic_write`)."""
    _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_copy(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` atomically (see :func:`_atomic_write`)."""
    def copy(f):
        with open(src, "rb") as source:
            shutil.copyfileobj(source, f)
    _atomic_write(dst, copy)


def _fsync_dir(folder: str) -> None:
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


def training_state(model, optimizer, scheduler, scaler, epoch: int, best_metric: Optional[float],
                   rng_states: List[Dict[str, Any]], config: Dict[str, Any],
                   extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Everything ``restore`` needs; ``epoch`` is the number of completed epochs."""
    state = {"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
             "epoch": epoch, "best_metric": best_metric, "rng": rng_states, "config": config}
    state.update(extra or {})
    return state


def save(state: Dict[str, Any], out_dir: str, is_best: bool) -> str:
    """Write ``last.pth`` (and copy it to ``best.pth`` when ``is_best``); return the last path."""
    last = os.path.join(out_dir, LAST)
    atomic_save(state, last)
    if is_best:
        atomic_copy(last, os.path.join(out_dir, BEST))
    return last


def load(path: str, map_location="cpu") -> Dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=False)


def restore(state: Dict[str, Any], model, optimizer=None, scheduler=None, scaler=None,
            rank: int = 0, world_size: int = 1) -> Dict[str, Any]:
    """Load a ``training_state`` into the given objects and this rank's RNG states (when the run had
    the same number of ranks). Returns ``{"epoch", "best_metric"}``."""
    unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    rngs = state.get("rng") or []
    if len(rngs) == world_size:
        set_rng_state(rngs[rank])
    return {"epoch": int(state["epoch"]), "best_metric": state.get("best_metric")}


def find_last(out_dir: str) -> Optional[str]:
    path = os.path.join(out_dir, LAST)
    return path if os.path.isfile(path) else None
