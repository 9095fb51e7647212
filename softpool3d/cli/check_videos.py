"""Find unreadable videos, in parallel, and write their list (``path<TAB>reason`` per line).

    python tools/check_videos.py --dataset ucf101 --root data/ucf101          # all splits, folds
    python tools/check_videos.py --folder data/kinetics400/train --full        # decode every frame
Exit status 1 when some videos are unreadable.
"""
import argparse
import os
import sys
import warnings

from softpool3d.datasets import DATASETS, load_records
from softpool3d.datasets.check import find_unreadable, list_videos


def dataset_videos(name, root, splits, folds):
    """Unique paths of the videos annotated in ``splits`` x ``folds`` (missing ones reported)."""
    paths = {}
    for fold in folds or DATASETS[name].folds:
        for split in splits:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                records, _ = load_records(name, root, split, fold)
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
            paths.update((r.path, None) for r in records)
    return list(paths)


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
    p.add_argument("--out", default="unreadable_videos.txt")
    a = p.parse_args(argv)
    if a.dataset and not a.root:
        p.error("--dataset needs --root")
    paths = dataset_videos(a.dataset, a.root, a.splits, a.folds) if a.dataset else list_videos(a.folder)
    bad = find_unreadable(paths, full=a.full, workers=a.workers)
    with open(a.out, "w") as f:
        f.writelines(f"{path}\t{reason}\n" for path, reason in bad)
    print(f"checked {len(paths)} videos: {len(bad)} unreadable (list: {a.out})")
    for path, reason in bad[:10]:
        print(f"  {path}: {reason}")
    return 1 if bad else 0



if __name__ == "__main__":
    raise SystemExit(main())
