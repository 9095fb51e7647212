"""Run logs on rank 0: JSON-lines metrics (``metrics.jsonl``) and TensorBoard scalars."""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Optional


class RunLogger:
    """``log(kind, step, **values)`` appends one JSON line and, for numbers, TensorBoard scalars
    ``kind/name``. Inactive (a no-op) when ``out_dir`` is None (the other ranks)."""

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
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(f"{kind}/{name}", v, step)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None
