"""Prepare Kinetics / UCF-101 / HMDB-51: check the copy against its annotations, re-encode every
annotated video to a short side (H.264 .mp4, in parallel, resumable: finished videos are skipped and
partial outputs never stay under a final name) and write the annotation files the loaders read.

    python tools/prepare_dataset.py ucf101 raw/ucf101 data/ucf101 --short-side 256 --workers 8
    python tools/prepare_dataset.py hmdb51 raw/hmdb51 data/hmdb51
    python tools/prepare_dataset.py kinetics raw/k400 data/kinetics400 --annotations raw/k400/annotations
SRC as the archives unpack it (UCF-101: SRC/UCF-101/<Class>/*.avi beside SRC/ucfTrainTestlist; HMDB-51:
SRC/<class>/*.avi beside SRC/testTrainMulti_7030_splits; Kinetics: CSVs in SRC/annotations or SRC,
videos anywhere under SRC) or as mmaction2 keeps it (SRC/videos, SRC/annotations); see the README's
Datasets section. Exit status 1 when videos failed or are missing, 2 for usage errors (a source
without the expected annotation files or videos: the message names the folders searched).
"""
import argparse
import os
import sys

from softpool3d.datasets.decode import FRAME_SHORTFALL
from softpool3d.datasets.prepare import KINDS, make_plan, run_plan


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=KINDS)
    p.add_argument("src", help="the downloaded copy (videos + official annotation files)")
    p.add_argument("out", help="output folder (the dataset root for build_dataset)")
    p.add_argument("--short-side", type=int, default=256, help="0: keep the size")
    p.add_argument("--crf", type=int, default=23, help="x264 quality (lower: better, larger)")
    p.add_argument("--keyint", type=int, default=None, help="keyframe interval in frames (faster "
                   "random access for decoding, larger files)")
    p.add_argument("--annotations", help="folder holding the annotation files, when not in SRC "
                   "(UCF-101: classInd.txt and the lists; HMDB-51: the split files; Kinetics: the "
                   "train/validate/test CSVs)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--max-missing-frames", type=float, default=FRAME_SHORTFALL, metavar="FRACTION",
                   help="a source whose decoded frames fall short of the count its header reports "
                   "by more than this fraction fails as truncated (less: a warning); default "
                   "%(default)s")
    a = p.parse_args(argv)
    if not 0 <= a.max_missing_frames < 1:
        p.error(f"--max-missing-frames must be in [0, 1), got {a.max_missing_frames}")
    if os.path.abspath(a.src) == os.path.abspath(a.out):
        p.error("src and out must differ")
    if not os.path.isdir(a.src):
        p.error(f"source folder {a.src} does not exist")
    if a.annotations and not os.path.isdir(a.annotations):
        p.error(f"--annotations folder {a.annotations} does not exist")
    if a.workers < 1:
        p.error(f"--workers must be >= 1, got {a.workers}")
    try:
        plan = make_plan(a.kind, a.src, a.out, annotation_dir=a.annotations)
    except (FileNotFoundError, ValueError) as e:  # ValueError: AnnotationError (file:line)
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 2
    print(f"{a.kind}: {len(plan.jobs)} annotated videos found, {len(plan.missing)} missing, "
          f"{len(plan.lists)} annotation files")
    report = run_plan(plan, a.out, short_side=a.short_side, crf=a.crf, keyint=a.keyint,
                      workers=a.workers, tolerance=a.max_missing_frames)
    print(report.summary())
    for src, reason in report.failed[:5]:
        print(f"  failed: {src}: {reason}")
    for src in report.missing[:5]:
        print(f"  missing: {src}")
    for src, message in report.warnings[:5]:
        print(f"  warning: {src}: {message}")
    if report.failed or report.missing:
        print(f"lists (JSON Lines): {os.path.join(a.out, 'prepare_failed.jsonl')}, "
              f"{os.path.join(a.out, 'prepare_missing.jsonl')}")
    return 1 if report.failed or report.missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
