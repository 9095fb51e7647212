"""Find unreadable videos, in parallel, and write their list: JSON Lines, one
``{"path": ..., "reason": ...}`` object per bad video (JSON holds any path, tabs and newlines
included; read it with ``[json.loads(line) for line in open(OUT)]``).

    python tools/check_videos.py --dataset ucf101 --root data/ucf101          # all splits, folds
    python tools/check_videos.py --folder data/kinetics400/train --full        # decode every frame
Videos the annotations list but that are missing count as bad (reason "missing file"); so do
truncated ones (fewer frames than the header reports). Exit status 1 when some videos are bad.
"""
import argparse
import json
import os
import sys

from softpool3d.datasets import DATASETS
from softpool3d.datasets.check import check_dataset, find_unreadable, list_videos


def _check(a):
    """What is wrong with the arguments (before anything is read or written), or None."""
    if a.dataset and not a.root:
        return "--dataset needs --root"
    if a.folder is not None and not os.path.isdir(a.folder):
        return f"--folder {a.folder}: no such folder"
    if a.dataset and not os.path.isdir(a.root):
        return f"--root {a.root}: no such folder"
    if a.dataset:
        folds = DATASETS[a.dataset].folds
        bad = [f for f in a.folds or () if f not in folds]
        if bad:
            return (f"--folds {' '.join(map(str, bad))}: {a.dataset} has fold"
                    f"{'s' if len(folds) > 1 else ''} {', '.join(map(str, folds))}")
    if a.workers < 1:
        return f"--workers must be at least 1, got {a.workers}"
    if os.path.isdir(a.out):
        return f"--out {a.out} is a folder"
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", choices=sorted(DATASETS))
    src.add_argument("--folder", help="scan every video file under this folder")
    p.add_argument("--root", help="dataset folder (with --dataset)")
    p.add_argument("--splits", nargs="+", default=["train", "test"])
    p.add_argument("--folds", nargs="+", type=int, help="default: all folds of the dataset")
    p.add_argument("--full", action="store_true", help="decode every frame and check that seeking "
                   "is exact (slow, thorough); default: decode the first/middle/last frames")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--out", default="unreadable_videos.jsonl",
                   help="the list of bad videos (JSON Lines); default %(default)s")
    a = p.parse_args(argv)
    problem = _check(a)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        if a.dataset:
            checked, bad = check_dataset(a.dataset, a.root, a.splits, a.folds, full=a.full,
                                         workers=a.workers)
        else:
            paths = list_videos(a.folder)
            checked, bad = len(paths), find_unreadable(paths, full=a.full, workers=a.workers)
    except (ValueError, OSError) as e:  # a missing root or list, a malformed list (file:line)
        print(f"error: {e}", file=sys.stderr)
        return 2
    with open(a.out, "w") as f:
        f.writelines(json.dumps({"path": path, "reason": reason}) + "\n" for path, reason in bad)
    print(f"checked {checked} videos: {len(bad)} unreadable or missing (list: {a.out})")
    for path, reason in bad[:10]:
        print(f"  {path}: {reason}")
    return 1 if bad else 0



if __name__ == "__main__":
    raise SystemExit(main())
