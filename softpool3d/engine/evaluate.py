"""Multi-view evaluation: every view of a video through the model, scores averaged per video,
gathered over the ranks, then top-1/top-5, mean class accuracy and the confusion matrix; the
per-video scores can be kept and saved (``save_video_scores``)."""
from __future__ import annotations

import os
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Sampler
from tqdm import tqdm

from . import badvideos
from . import distributed as du
from .._files import atomic_write
from ..model_inputs import fresh_input
from ..runtime import cuda_autocast
from .meters import VideoAggregator

Video = Union[torch.Tensor, List[torch.Tensor]]


class ShardSampler(Sampler):
    """Indices ``rank, rank + world, ...`` in order: every sample exactly once over the ranks (no
    padding, unlike DistributedSampler), so the gathered metrics count each video once."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1):
        self.n, self.rank, self.world_size = n, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))


def to_device(video: Video, device: torch.device) -> Video:
    nb = device.type == "cuda"
    if isinstance(video, (list, tuple)):
        return [v.to(device, non_blocking=nb) for v in video]
    return video.to(device, non_blocking=nb)


def flatten_views(video: Video):
    """``(B, V, C, T, H, W)`` (or a list of them, one per pathway) -> ``(B*V, C, T, H, W)`` and ``(B, V)``;
    a single-view ``(B, C, T, H, W)`` batch has V = 1."""
    first = video[0] if isinstance(video, (list, tuple)) else video
    if first.dim() == 5:
        return video, (first.shape[0], 1)
    b, v = first.shape[:2]
    if isinstance(video, (list, tuple)):
        return [x.flatten(0, 1) for x in video], (b, v)
    return video.flatten(0, 1), (b, v)


def forward(model: torch.nn.Module, video: Video) -> torch.Tensor:
    """``model`` on ``video``, handed a fresh list where it is one (``model_inputs.fresh_input``)."""
    return model(fresh_input(video))


def show_progress(progress: Optional[bool] = None) -> bool:
    """Whether this process draws a progress bar: never off rank 0; ``None`` (auto): when stderr is
    a terminal and ``TQDM_DISABLE`` is unset (or 0/false); ``True``/``False`` force it."""
    if not du.is_main() or progress is False:
        return False
    if progress is None:
        off = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")
        return not off and sys.stderr.isatty()
    return True


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, device: torch.device, num_classes: int,
             amp: str = "none", average: str = "softmax", progress: Optional[bool] = None,
             desc: str = "eval", per_video: bool = False) -> Dict[str, object]:
    """Video-level metrics over ``loader`` (batches of samples as in CONTRACTS.md), all ranks
    together. Returns the ``classification_metrics`` dict + ``num_views``, ``bad_videos``
    (``{path: reason}``: the distinct bad videos met, and those the dataset lists but lacks),
    ``skipped`` (their number) and ``substitutions`` (how many times one was replaced).

    ``progress``: a tqdm bar of batches on rank 0 (see ``show_progress``). ``per_video``: also
    ``videos`` = ``{"index", "scores", "labels", "views"}`` over all ranks, each video once in
    dataset order: ``scores`` (N, K) are the view-averaged softmax probabilities (``average=
    "softmax"``) or logits, ``views`` how many views were averaged (a bad video's replacement
    adds its views to the replacing video; the bad one is absent)."""
    was_training = model.training
    model.eval()
    agg = VideoAggregator(num_classes, average)
    substitutions, views = 0, 0
    bad = dict(getattr(loader.dataset, "bad_videos", dict)())
    bar = tqdm(total=len(loader), desc=desc, unit="batch", leave=False, dynamic_ncols=True,
               disable=not show_progress(progress))
    try:
        for batch in loader:
            video, (b, v) = flatten_views(to_device(batch["video"], device))
            with cuda_autocast(device, amp):
                scores = forward(model, video)
            agg.add(batch["index"], batch["label"], scores.float().view(b, v, -1))
            substitutions += int(torch.as_tensor(batch.get("skipped", 0)).sum())
            bad.update(badvideos.from_batch(batch))
            views = max(views, v)
            bar.update(1)
    finally:
        bar.close()
    model.train(was_training)
    if du.is_dist():
        states = du.all_gather_object(agg.state())
        agg = VideoAggregator(num_classes, average)
        for s in states:
            agg.merge(s)
        substitutions = int(du.all_reduce_sum({"s": substitutions})["s"])
        views = max(du.all_gather_object(views))
        bad = badvideos.gather(bad)
    metrics = agg.compute()
    metrics.update(skipped=len(bad), substitutions=substitutions, bad_videos=dict(sorted(bad.items())),
                   num_views=views)
    if per_video:
        index, scores, labels = agg.video_scores()
        metrics["videos"] = {"index": torch.tensor(index, dtype=torch.long), "scores": scores,
                             "labels": labels,
                             "views": torch.tensor([agg.counts[i] for i in index], dtype=torch.long)}
    return metrics


def save_video_scores(path: str, videos: Dict[str, torch.Tensor], paths: Sequence[str],
                      classes: Sequence[str], average: str, fold: Optional[int] = None) -> None:
    """Write ``evaluate(per_video=True)["videos"]`` as an ``.npz`` (atomically), one row per video in
    dataset order: ``scores`` (N, K) float32, ``labels``/``pred``/``index``/``views`` (N,) int64,
    ``paths`` (N,) and ``classes`` (K,) unicode arrays, ``average`` and ``fold`` (-1: none) scalars.
    ``paths`` are the dataset's video paths indexed by ``index``. Plain arrays only:
    ``np.load(path)`` reads it with the default ``allow_pickle=False``."""
    index = videos["index"].numpy().astype(np.int64)
    scores = videos["scores"].float().numpy()
    arrays = dict(scores=scores, labels=videos["labels"].numpy().astype(np.int64),
                  pred=scores.argmax(axis=1).astype(np.int64) if len(index) else
                  np.zeros(0, np.int64),
                  index=index, views=videos["views"].numpy().astype(np.int64),
                  paths=np.array([str(paths[i]) for i in index], dtype=str),
                  classes=np.array([str(c) for c in classes], dtype=str),
                  average=np.array(average), fold=np.array(-1 if fold is None else int(fold)))
    atomic_write(path, lambda f: np.savez(f, **arrays))
