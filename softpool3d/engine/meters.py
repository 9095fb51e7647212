"""Accuracy meters: top-k, and the multi-view video-level protocol (scores of a video's V views
averaged, then top-1/top-5, mean class accuracy and the confusion matrix)."""
from __future__ import annotations

from typing import Dict, Iterable, Sequence

import torch


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)
                 ) -> Dict[int, int]:
    """Number of rows whose label is among the ``k`` highest scores, per ``k`` (k capped at the
    number of classes)."""
    ks = list(ks)
    kmax = min(max(ks), scores.shape[1])
    top = scores.topk(kmax, dim=1).indices
    hit = top.eq(labels.view(-1, 1))
    return {k: int(hit[:, :min(k, kmax)].any(dim=1).sum()) for k in ks}


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``cm[true, predicted]`` counts (int64)."""
    idx = labels.long() * num_classes + pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


def mean_class_accuracy(cm: torch.Tensor) -> float:
    """Mean over the classes present in the labels of per-class recall."""
    support = cm.sum(dim=1)
    present = support > 0
    if not present.any():
        return 0.0
    per_class = cm.diag()[present].double() / support[present].double()
    return float(per_class.mean())


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int
                           ) -> Dict[str, object]:
    """top1/top5 (fractions), mean_class_acc, confusion (a ``num_classes`` x ``num_classes`` list)."""
    labels = labels.long()
    n = max(1, labels.numel())
    correct = topk_correct(scores, labels, (1, 5))
    cm = confusion_matrix(scores.argmax(dim=1), labels, num_classes)
    return {"top1": correct[1] / n, "top5": correct[5] / n,
            "mean_class_acc": mean_class_accuracy(cm), "num_videos": int(labels.numel()),
            "confusion": cm.tolist()}


class VideoAggregator:
    """Collects per-view scores keyed by video index and averages them per video.

    ``add(indices, labels, scores)`` with ``scores`` of shape ``(N, V, K)`` (V views of each video) or
    ``(N, K)``; the same video may also arrive over several calls (its views are then pooled).
    ``average="softmax"`` averages probabilities, ``"logits"`` the raw scores."""

    def __init__(self, num_classes: int, average: str = "softmax"):
        if average not in ("softmax", "logits"):
            raise ValueError(f"average must be 'softmax' or 'logits', got {average!r}")
        self.num_classes = num_classes
        self.average = average
        self.sums: Dict[int, torch.Tensor] = {}
        self.counts: Dict[int, int] = {}
        self.labels: Dict[int, int] = {}

    def add(self, indices: Sequence[int], labels: Sequence[int], scores: torch.Tensor) -> None:
        scores = scores.detach().float().cpu()
        if scores.dim() == 2:
            scores = scores.unsqueeze(1)
        if self.average == "softmax":
            scores = scores.softmax(dim=-1)
        for i, y, s in zip(torch.as_tensor(indices).tolist(), torch.as_tensor(labels).tolist(), scores):
            if i in self.sums:
                if self.labels[i] != y:
                    raise ValueError(f"video {i} seen with labels {self.labels[i]} and {y}")
                self.sums[i] += s.sum(0)
                self.counts[i] += s.shape[0]
            else:
                self.sums[i], self.counts[i], self.labels[i] = s.sum(0).clone(), s.shape[0], y

    def state(self):
        """Picklable contents (to gather over ranks); merge with ``merge``."""
        return {i: (self.sums[i], self.counts[i], self.labels[i]) for i in self.sums}

    def merge(self, state) -> None:
        for i, (s, c, y) in state.items():
            if i in self.sums:
                self.sums[i] += s
                self.counts[i] += c
            else:
                self.sums[i], self.counts[i], self.labels[i] = s.clone(), c, y

    def video_scores(self):
        """``(indices, scores (N, K), labels (N,))`` sorted by video index."""
        idx = sorted(self.sums)
        if not idx:
            return [], torch.zeros(0, self.num_classes), torch.zeros(0, dtype=torch.long)
        scores = torch.stack([self.sums[i] / self.counts[i] for i in idx])
        labels = torch.tensor([self.labels[i] for i in idx], dtype=torch.long)
        return idx, scores, labels

    def compute(self) -> Dict[str, object]:
        _, scores, labels = self.video_scores()
        return classification_metrics(scores, labels, self.num_classes)
