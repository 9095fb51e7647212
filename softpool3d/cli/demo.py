"""The benchmark on the embedded synthetic dataset, in one command (CPU, 2 cores; time measured in
docs/benchmarks.md):

    python tools/demo.py            # generate data/synthetic_demo (8 motion classes x 120 train +
                                    # 60 test clips), decode it once into a frame cache, train and
                                    # test r3d_tiny with the published pools ("original") and with
                                    # SoftPool under the paper's protocol (the stem max pool
                                    # replaced, kernel = stride), 3 seeds each, profile both, write
                                    # the report
    python tools/demo.py --pools original soft avg --seeds 0 1 2 3 4
    python tools/demo.py --quick    # 2 seeds, few epochs: a smoke run, not a result

``softpool3d-demo`` (the installed command) runs the same from any folder: the config is the
package's ``configs/synthetic/<model>.yaml``, the data (``--data``, default ``data/synthetic_demo``)
and the runs (``--out``, default ``runs/demo``) go under the working directory. The runs are a
sweep (softpool3d/cli/sweep.py) in ``<out>/<model>/<pool>/seed<k>``: re-running the demo reuses
finished runs and resumes interrupted ones. The report (``<out>/report/report.md``: k of n runs
converged, mean and 95 % CI of the converged runs per pool, paired differences to
``original`` with the verdict better / worse / equivalent (±2 points) / inconclusive, plots) ends
with a conclusion drawn from them, which the demo prints.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from softpool3d.config import shipped_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="r3d_tiny", help="a configs/synthetic/<model>.yaml of the "
                   "package")
    p.add_argument("--pools", nargs="+", default=["original", "soft"],
                   help="pooling methods (original = the published pools, the reference)")
    p.add_argument("--seeds", nargs="+", type=int, help="default 0 1 2 (--quick: 0 1)")
    p.add_argument("--jobs", type=int, default=2, help="trainings at once (default 2)")
    p.add_argument("--data", default=os.path.join("data", "synthetic_demo"),
                   help="synthetic dataset folder (generated when missing)")
    p.add_argument("--train-per-class", type=int, default=120)
    p.add_argument("--test-per-class", type=int, default=60,
                   help="test clips per class (default 60: 480 test videos, so that one run's "
                        "top-1 has a binomial error of ~1.4 points at 90 %%)")
    p.add_argument("--out", help="runs folder (default: runs/demo, runs/demo_quick with --quick)")
    p.add_argument("--quick", action="store_true", help="short training (a smoke run)")
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("overrides", nargs="*", help="extra key.sub=value overrides for every run")
    return p.parse_args(argv)


def prepare_data(args) -> int:
    """Generate the dataset and decode it into its frame cache (both skipped when up to date)."""
    from softpool3d.datasets import build_dataset, synthetic
    print(f"== dataset: {args.data}", flush=True)
    try:
        synthetic.generate(args.data, seed=0, train_per_class=args.train_per_class,
                           test_per_class=args.test_per_class)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for split in ("train", "test"):  # built once here, not by two parallel trainings
        build_dataset("synthetic", args.data, split, frame_cache="auto")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    out = args.out or os.path.join("runs", "demo_quick" if args.quick else "demo")
    config = shipped_config(f"synthetic/{args.model}.yaml")
    if not os.path.isfile(config):
        print(f"error: no config {config} (--model names a configs/synthetic/<model>.yaml of the "
              "package)", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("error: --jobs must be >= 1", file=sys.stderr)
        return 2
    code = prepare_data(args)
    if code:
        return code
    overrides = [f"data.root={args.data}"] + list(args.overrides)
    if args.quick:
        overrides += ["optim.epochs=3", "train.eval_every=0", "optim.warmup_epochs=0.5"]
    if args.epochs:
        overrides.append(f"optim.epochs={args.epochs}")
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])

    from softpool3d.cli import sweep
    from softpool3d.report import conclusion, to_markdown, write_report
    sweep_args = ["--models", args.model, "--pools", *args.pools, "--seeds", *map(str, seeds),
                  "--out", out, "--jobs", str(args.jobs)] + \
        (["--no-profile"] if args.no_profile else []) + overrides
    print(f"\n== sweep: {' '.join(sweep_args)}", flush=True)
    code = sweep.main(sweep_args)
    if code == 2:
        return 2
    report = os.path.join(out, "report")
    tables = write_report([out], report)
    print(f"\n== SoftPool demo on the synthetic dataset ({time.time() - t0:.0f} s)")
    for dataset, rows in sorted(tables.items()):
        print(to_markdown(dataset, rows))
        print("Conclusion: " + conclusion(rows))
    print(f"\nreport: {os.path.join(report, 'report.md')} (plots: {report}/*.png)")
    return 1 if code else 0


if __name__ == "__main__":
    raise SystemExit(main())
