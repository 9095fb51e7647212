"""Run logs on rank 0: JSON-lines metrics (``metrics.jsonl``) and TensorBoard scalars.

Every record goes to ``metrics.jsonl`` as it is. TensorBoard gets the measurements only, one x axis
per tag prefix so that no chart mixes iterations with epochs:

    record kind    TensorBoard tag        x axis
    train_step     train_iter/<name>      optimiser step
    train_epoch    epoch/train_<name>     epoch
    val            epoch/val_<name>       epoch
    test           test/<name>            epoch of the tested weights

Bookkeeping counts (clips, videos, views, substitutions, bad videos) and other kinds (errors) are
left out of TensorBoard.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Optional

# record kind -> TensorBoard tag prefix
TB_TAGS = {"train_step": "train_iter/", "train_epoch": "epoch/train_", "val": "epoch/val_",
           "test": "test/"}
# counts, not measurements: JSON lines only
BOOKKEEPING = frozenset({"clips", "substitutions", "num_videos", "num_views", "skipped", "epoch",
                         "step"})


def tb_tag(kind: str, name: str) -> Optional[str]:
    """The TensorBoard tag of value ``name`` of a ``kind`` record, or None (not a scalar there)."""
    prefix = TB_TAGS.get(kind)
    if prefix is None or name in BOOKKEEPING:
        return None
    return prefix + name


class RunLogger:
    """``log(kind, step, **values)`` appends one JSON line and, for numbers, TensorBoard scalars
    (see ``TB_TAGS``). Inactive (a no-op) when ``out_dir`` is None (the other ranks)."""

    def __init__(self, out_dir: Optional[str], tensorboard: bool = True):
        self.active = out_dir is not None
        self.file = None
        self.tb = None
        if not self.active:
            return
        os.makedirs(out_dir, exist_ok=True)
        self.file = open(os.path.join(out_dir, "metrics.jsonl"), "a")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(os.path.join(out_dir, "tb"))
            except ImportError:  # tensorboard not installed: JSON lines only
                self.tb = None

    def log(self, kind: str, step: int, **values: Any) -> None:
        if not self.active:
            return
        record: Dict[str, Any] = {"kind": kind, "step": step, "time": round(time.time(), 3), **values}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            for name, v in values.items():
                tag = tb_tag(kind, name)
                if tag is not None and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(tag, v, step)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def log_test(out_dir: Optional[str], epoch: int, metrics: Dict[str, Any], tensorboard: bool = True
             ) -> None:
    """Append the final test's metrics (top1, top5, mean class accuracy, ...) as a ``test`` record
    at ``epoch`` (rank 0; a no-op without ``out_dir``)."""
    logger = RunLogger(out_dir, tensorboard=tensorboard)
    try:
        logger.log("test", epoch, **{k: v for k, v in metrics.items()
                                     if isinstance(v, (int, float, str)) or v is None})
    finally:
        logger.close()


def results_metrics(metrics: Dict[str, Any]) -> Dict[str, Any]:
    """The scalar metrics of an ``evaluate`` result (no confusion matrix, no per-video data)."""
    keys = ("top1", "top5", "mean_class_acc", "num_videos", "num_views", "skipped",
            "substitutions", "time_s")
    return {k: metrics[k] for k in keys if k in metrics}
