"""Generate the synthetic motion-classification dataset (real H.264 videos, UCF-101 layout).

    python tools/make_synthetic.py data/synthetic            # defaults: 8 classes, 30+10 clips each
    python tools/make_synthetic.py data/syn10 --num-classes 10 --frames 32 --size 128
"""
import argparse
import os
import sys
import time

from softpool3d.datasets import synthetic


def _check(a):
    """What is wrong with the arguments (checked before anything is written), or None."""
    ranges = [("--num-classes", a.num_classes, 1, len(synthetic.CLASSES)),
              ("--train-per-class", a.train_per_class, 1, None),
              ("--test-per-class", a.test_per_class, 1, None),
              ("--frames", a.frames, 2, None), ("--size", a.size, 16, None),
              ("--workers", a.workers, 1, None), ("--seed", a.seed, 0, None)]
    for name, value, lo, hi in ranges:
        if value < lo or (hi is not None and value > hi):
            need = f"in {lo}..{hi}" if hi is not None else f"at least {lo}"
            return f"{name} must be {need}, got {value}"
    if a.size % 2:
        return f"--size must be even (H.264 4:2:0), got {a.size}"
    if os.path.exists(a.out_dir) and not os.path.isdir(a.out_dir):
        return f"{a.out_dir} exists and is not a folder"
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", nargs="?", default="data/synthetic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-classes", type=int, default=8, help=f"1..{len(synthetic.CLASSES)}")
    p.add_argument("--train-per-class", type=int, default=30)
    p.add_argument("--test-per-class", type=int, default=10)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    a = p.parse_args(argv)
    problem = _check(a)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    start = time.time()
    try:
        out = synthetic.generate(a.out_dir, seed=a.seed, num_classes=a.num_classes,
                                 train_per_class=a.train_per_class, test_per_class=a.test_per_class,
                                 frames=a.frames, size=a.size, workers=a.workers)
    except (FileExistsError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = a.num_classes * (a.train_per_class + a.test_per_class)
    print(f"{out}: {a.num_classes} classes, {n} clips ({time.time() - start:.1f} s)")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
