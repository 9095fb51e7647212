"""The benchmark on the embedded synthetic dataset, in one command (CPU, ~7 min on 2 free cores):

    python tools/demo.py            # generate data/synthetic_demo (8 classes x 120 train + 20 test
                                    # clips), train + test a tiny model with max
                                    # pooling and with SoftPool, profile both, write the report
    python tools/demo.py --quick    # fewer epochs (a few minutes)
    python tools/demo.py --pools max avg soft --model x3d_xs_tiny

Each run is ``tools/train.py configs/synthetic/<model>.yaml model.pool=<pool>`` in
``<out>/<model>_<pool>`` (re-running the demo resumes or reuses finished runs); then
``tools/profile_model.py`` and ``tools/report.py`` (when present) add cost columns, a table and a plot
under ``<out>/report``. The final table is printed at the end.
"""
import argparse
import json
import os
import subprocess
import sys
import time

# The demo runs from the repository root: it reads configs/ and writes data/ and runs/ there.
ROOT = os.getcwd()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="r3d_tiny", help="a configs/synthetic/<model>.yaml")
    p.add_argument("--pools", nargs="+", default=["max", "soft"], help="pooling methods to compare")
    p.add_argument("--data", default=os.path.join(ROOT, "data", "synthetic_demo"),
                   help="synthetic dataset folder (generated when missing)")
    p.add_argument("--train-per-class", type=int, default=120,
                   help="training clips per class to generate (the generator's default 30 is too "
                        "few for the tiny models to learn the motions: ~20%% top-1 vs ~32%%)")
    p.add_argument("--test-per-class", type=int, default=20)
    p.add_argument("--out", help="runs folder (default: runs/demo, runs/demo_quick with --quick)")
    p.add_argument("--quick", action="store_true", help="short training (a smoke run)")
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    p.add_argument("--no-profile", action="store_true", help="skip tools/profile_model.py")
    p.add_argument("overrides", nargs="*", help="extra key.sub=value overrides for every run")
    return p.parse_args(argv)


def run(cmd, log=None):
    """Run a command (echoed), stream its output, return its exit status."""
    print("$ " + " ".join(cmd), flush=True)
    if log is None:
        return subprocess.call(cmd, cwd=ROOT)
    with open(log, "w") as f:
        return subprocess.call(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, scale=1.0, digits=1):
    return "-" if v is None else f"{v * scale:.{digits}f}"


def table(rows):
    headers = ["model", "pool", "top-1 %", "top-5 %", "mean cls %", "train s", "params",
               "GFLOPs/view", "train step ms", "train mem MiB"]
    lines = [headers]
    for r in rows:
        res, prof = r["results"] or {}, r["profile"] or {}
        lines.append([r["model"], r["pool"], fmt(res.get("top1"), 100), fmt(res.get("top5"), 100),
                      fmt(res.get("mean_class_acc"), 100), fmt(res.get("train_time_s"), 1, 0),
                      f"{prof['params']:,}" if prof.get("params") else "-",
                      fmt(prof.get("gflops_per_view"), 1, 3),
                      fmt(prof.get("train_step_ms", prof.get("train_time_ms")), 1, 0),
                      fmt(prof.get("train_peak_bytes"), 2 ** -20, 0)])
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(headers))]
    out = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    out = args.out or os.path.join(ROOT, "runs", "demo_quick" if args.quick else "demo")
    config = os.path.join(ROOT, "configs", "synthetic", f"{args.model}.yaml")
    if not os.path.isfile(config):
        print(f"error: no config {config} (run the demo from the repository root)", file=sys.stderr)
        return 2

    from softpool3d.datasets import synthetic
    print(f"== dataset: {args.data}", flush=True)
    try:
        synthetic.generate(args.data, seed=0, train_per_class=args.train_per_class,
                           test_per_class=args.test_per_class)
    except FileExistsError as e:  # made with other parameters: use it as it is
        print(f"note: {e}; using it as it is", flush=True)

    overrides = [f"data.root={args.data}"] + list(args.overrides)
    if args.quick:
        overrides += ["optim.epochs=3", "train.eval_every=0", "optim.warmup_epochs=0.5"]
    if args.epochs:
        overrides.append(f"optim.epochs={args.epochs}")

    rows, failed = [], []
    for pool in args.pools:
        run_dir = os.path.join(out, f"{args.model}_{pool}")
        print(f"\n== train + test: {args.model} pool={pool} -> {run_dir}", flush=True)
        code = run([sys.executable, "-m", "softpool3d.cli.train", config,
                    f"model.pool={pool}", *overrides, "--output-dir", run_dir])
        if code != 0:
            failed.append(f"train {pool} (exit {code})")
        rows.append({"model": args.model, "pool": pool, "dir": run_dir,
                     "results": load_json(os.path.join(run_dir, "results.json")), "profile": None})

    if not args.no_profile:
        for r in rows:
            cfg = (r["results"] or {}).get("config", {}).get("data", {})
            prof = os.path.join(r["dir"], "profile.json")
            print(f"\n== profile: {r['model']} pool={r['pool']}", flush=True)
            code = run([sys.executable, "-m", "softpool3d.cli.profile_model",
                        "--model", r["model"], "--pool", r["pool"],
                        "--frames", str(cfg.get("num_frames", 8)),
                        "--crop", str(cfg.get("crop_size", 64)),
                        "--num-classes", str((r["results"] or {}).get("config", {})
                                             .get("model", {}).get("num_classes") or 8),
                        "--batch", "8", "--device", "cpu", "--convention", "full",
                        "--warmup", "1", "--iters", "3", "--json", prof])
            if code != 0:
                failed.append(f"profile {r['pool']} (exit {code})")
            r["profile"] = load_json(prof)

    print("\n== report", flush=True)
    if run([sys.executable, "-m", "softpool3d.cli.report", out,
            "--out", os.path.join(out, "report")]) != 0:
        failed.append("report")

    print(f"\n== SoftPool demo on the synthetic dataset ({time.time() - t0:.0f} s)")
    print(table(rows))
    print(f"runs: {out}" + (f"   report: {os.path.join(out, 'report')}"
                            if os.path.isdir(os.path.join(out, "report")) else ""))
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
