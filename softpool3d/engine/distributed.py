"""torchrun-aware process-group helpers (gloo on CPU, NCCL on CUDA); no-ops in a single process.

Several nodes: ``RANK`` (global) decides the data shard, the seeds and who writes (rank 0 only);
``LOCAL_RANK`` (the rank within a node) only picks the GPU. Nothing here assumes that the nodes
share a filesystem: what one rank read from disk (a checkpoint to resume) reaches the others by
broadcast.
See docs/distributed.md."""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

T = TypeVar("T")

import torch
import torch.distributed as dist


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def local_rank() -> int:
    """The rank within this node (torchrun's ``LOCAL_RANK``): picks the GPU, nothing else."""
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def pick_device(requested: str = "auto") -> torch.device:
    """``cuda:<local_rank>`` when CUDA is requested or available (``auto``), else CPU."""
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("train.device=cuda but CUDA is not available")
        index, count = local_rank(), torch.cuda.device_count()
        if index >= count:
            raise RuntimeError(
                f"LOCAL_RANK={index} but this process sees {count} GPU(s): start at most one "
                "process per GPU on each node (torchrun --nproc-per-node <= GPUs per node), and do "
                "not restrict each process to one GPU with CUDA_VISIBLE_DEVICES")
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


class StalledRankError(RuntimeError):
    """A collective did not complete in time: another rank stalled or died."""


def init(device: torch.device, timeout_s: float = 300.0) -> None:
    """Join the process group described by torchrun's env vars (RANK, WORLD_SIZE, MASTER_ADDR, ...).
    A collective that waits more than ``timeout_s`` for another rank fails (gloo: the call raises;
    NCCL: the watchdog aborts the process) instead of hanging."""
    if not launched_by_torchrun() or is_dist() or int(os.environ["WORLD_SIZE"]) < 1:
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s), **kwargs)


def is_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a collective that timed out (or failed because a peer went away)."""
    if not (is_dist() or launched_by_torchrun()):
        return False
    text = str(error)
    return isinstance(error, getattr(dist, "DistError", ())) or any(
        s in text for s in ("Timed out", "timed out", "Connection closed by peer",
                            "Connection reset by peer"))


def shutdown() -> None:
    global _turn_group
    _turn_group = None
    if is_dist():
        dist.destroy_process_group()


def barrier() -> None:
    if is_dist():
        dist.barrier()


def _reduce_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) \
        if is_dist() and dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sum(values: Dict[str, float]) -> Dict[str, float]:
    """Sum each value over the ranks (float64, so integer counts stay exact)."""
    if not is_dist() or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_reduce_device())
    dist.all_reduce(t)
    return {k: v for k, v in zip(keys, t.tolist())}


def any_true(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    if not is_dist():
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=_reduce_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def all_gather_object(obj: Any) -> List[Any]:
    """Every rank's ``obj`` (a list, in rank order)."""
    if not is_dist():
        return [obj]
    out: List[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy ``src``'s buffers (BatchNorm running statistics) to every rank. DDP broadcasts them
    before each training forward, so after the last one of an epoch the ranks' copies differ."""
    if not is_dist():
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=src)


def broadcast_state(module: torch.nn.Module, src: int = 0) -> None:
    """Copy ``src``'s parameters and buffers to every rank (weights only ``src`` could load)."""
    if not is_dist():
        return
    with torch.no_grad():
        for t in module.state_dict().values():
            dist.broadcast(t, src=src)


class PeerFailedError(RuntimeError):
    """Another rank failed at a step every rank takes together (its own error names the cause)."""


# The ranks waiting for another one's turn in ``in_turn`` may wait as long as building a cache takes
# (minutes to hours for a large dataset), far beyond train.dist_timeout_s: they wait in a gloo group
# of their own with this timeout.
TURN_TIMEOUT_S = 6 * 3600.0
_turn_group = None


def _turn_gather(obj: Any) -> List[Any]:
    global _turn_group
    if _turn_group is None:
        _turn_group = dist.new_group(backend="gloo", timeout=timedelta(seconds=TURN_TIMEOUT_S))
    out: List[Any] = [None] * world_size()
    dist.all_gather_object(out, obj, group=_turn_group)
    return out


def in_turn(fn: Callable[[], T]) -> T:
    """``fn()`` on rank 0 first, then on the first rank of every other node, then on the rest, with
    a barrier between the turns: whatever ``fn`` builds on disk (a decoded-frame cache in the data
    folder) is built once per filesystem, by one process, while the others wait (up to
    ``TURN_TIMEOUT_S``, not train.dist_timeout_s) and then find it.
    When ``fn`` raises on some rank, it raises there and every other rank raises PeerFailedError
    (instead of waiting at a barrier until ``train.dist_timeout_s``)."""
    if not is_dist():
        return fn()
    turn = 0 if rank() == 0 else 1 if local_rank() == 0 else 2
    out: Optional[T] = None
    for t in range(3):
        error = None
        if t == turn:
            try:
                out = fn()
            except Exception as e:  # noqa: BLE001 -- re-raised below, after telling the others
                error = e
        failed = _turn_gather(None if error is None else f"{type(error).__name__}: {error}")
        if error is not None:
            raise error
        bad = [(r, msg) for r, msg in enumerate(failed) if msg is not None]
        if bad:
            r, msg = bad[0]
            raise PeerFailedError(f"rank {r} failed: {msg}")
    return out  # type: ignore[return-value]


def shard_report(indices: Sequence[int]) -> Dict[str, Any]:
    """What each rank trained on this epoch, gathered over the ranks: ``samples`` (per rank),
    ``distinct`` (different samples over all ranks) and ``overlap`` (samples trained on by more
    than one rank: 0 when the shards are disjoint; DistributedSampler's padding, up to
    world size - 1 repeated samples, and a bad video's random replacement add to it)."""
    per_rank = all_gather_object(list(map(int, indices)))
    seen: Dict[int, int] = {}
    for shard in per_rank:
        for i in set(shard):
            seen[i] = seen.get(i, 0) + 1
    return {"samples": [len(s) for s in per_rank], "distinct": len(seen),
            "overlap": sum(1 for c in seen.values() if c > 1)}
