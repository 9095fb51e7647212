"""Bad videos of a run, counted right: each distinct video once (path, reason, the splits it is
listed in) and, separately, the substitutions made for them. Workers report what they meet in each
sample's ``bad`` field (a JSON object ``{path: reason}``, which holds any path); ranks and epochs are merged here, and what is known
is pushed back into the datasets so a video is decided bad once for the rest of the run."""
from __future__ import annotations

from typing import Dict, Iterable

from softpool3d.datasets.video_dataset import bad_from_text

from . import distributed as du


def from_batch(batch) -> Dict[str, str]:
    """``{path: reason}`` of the bad videos named in a collated batch's ``bad`` field."""
    found: Dict[str, str] = {}
    texts = batch.get("bad", ()) if isinstance(batch, dict) else ()
    for text in [texts] if isinstance(texts, str) else texts:
        for path, reason in bad_from_text(text).items():
            found.setdefault(path, reason)
    return found


def gather(found: Dict[str, str]) -> Dict[str, str]:
    """Every rank's ``found`` merged (the same on every rank)."""
    merged: Dict[str, str] = {}
    for part in du.all_gather_object(dict(found)):
        for path, reason in part.items():
            merged.setdefault(path, reason)
    return merged


class BadVideos:
    """``videos``: ``{path: {"reason", "splits"}}``; ``substitutions``: ``{split: count}``."""

    def __init__(self, state: Dict = None):
        state = state or {}
        self.videos: Dict[str, Dict] = {p: {"reason": v["reason"], "splits": list(v["splits"])}
                                        for p, v in state.get("videos", {}).items()}
        self.substitutions: Dict[str, int] = dict(state.get("substitutions", {}))

    def add(self, split: str, found: Dict[str, str], substitutions: int = 0) -> None:
        for path, reason in found.items():
            entry = self.videos.setdefault(path, {"reason": reason, "splits": []})
            if split not in entry["splits"]:
                entry["splits"].append(split)
        self.substitutions[split] = self.substitutions.get(split, 0) + int(substitutions)

    def add_dataset(self, split: str, dataset) -> None:
        """The videos ``dataset`` already knows to be bad (missing files included)."""
        known = getattr(dataset, "bad_videos", None)
        if known is not None:
            self.add(split, known())

    def push(self, datasets: Iterable) -> None:
        """Tell ``datasets`` (their main-process copies, which the next epoch's workers inherit)
        every bad video known, so none is tried again."""
        bad = {p: v["reason"] for p, v in self.videos.items()}
        for ds in datasets:
            if ds is not None and hasattr(ds, "mark_bad"):
                ds.mark_bad(bad)

    def counts(self, splits=("train", "val", "test")) -> Dict[str, int]:
        """Distinct bad videos per split and in total."""
        out = {s: sum(s in v["splits"] for v in self.videos.values()) for s in splits}
        out["total"] = len(self.videos)
        return out

    def listing(self):
        return [{"path": p, "reason": v["reason"], "splits": v["splits"]}
                for p, v in sorted(self.videos.items())]

    def state_dict(self) -> Dict:
        return {"videos": {p: dict(v) for p, v in self.videos.items()},
                "substitutions": dict(self.substitutions)}
