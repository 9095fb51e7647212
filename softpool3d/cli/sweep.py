"""Train and test every (model, pool, pool sites, seed) of a grid, skipping finished runs; profile
each configuration at its own clip geometry; optionally write the report.

    python tools/sweep.py --models r3d_tiny --pools original soft --seeds 0 1 2 --out runs/sweep
    python tools/sweep.py --models r3d_tiny --pools max soft --sites stem head all --seeds 0 1 2 \\
        --jobs 2 --report data.root=data/synthetic_demo

Runs go to ``OUT/<model>/<pool>[@<sites>]/seed<k>`` (OUT relative to the working directory):
``tools/train.py`` on the package's ``configs/<dataset>/<model>.yaml`` (``shipped_config``) with
``model.pool=.. model.pool_sites=.. train.seed=k [overrides]``, log in ``train.log``; a run whose
``results.json`` exists is skipped, an interrupted one resumes from its checkpoint. ``original``
(the published pools) is run once per model whatever ``--sites``. ``--jobs N`` runs N trainings at
once, each with ``cores / N`` torch threads. Profiles go to ``OUT/profiles``. Exit status: 0 all
runs finished, 1 some failed, 2 usage error.
"""
from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from typing import List, Optional, Sequence

SITES = ("stem", "stage", "head", "global")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=["r3d_tiny"])
    p.add_argument("--pools", nargs="+", default=["original", "soft"])
    p.add_argument("--sites", nargs="+", default=["paper"],
                   help="site sets: 'paper' (the paper's protocol: the max pools inside the "
                        "network, kernel = stride), 'all', or comma-separated names of "
                        + ", ".join(SITES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--dataset", default="synthetic",
                   help="runs the package's configs/<dataset>/<model>.yaml")
    p.add_argument("--out", default=os.path.join("runs", "sweep"))
    p.add_argument("--jobs", type=int, default=1, help="trainings at once (default 1)")
    p.add_argument("--threads", type=int, help="torch threads per training (default cores/jobs)")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--report", action="store_true", help="write OUT/report when done")
    p.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides for every run")
    return p.parse_args(argv)


def plan(models, pools, sites, seeds) -> List[dict]:
    """The runs of the grid (``original`` once per model and seed)."""
    runs, seen = [], set()
    for model, pool, site, seed in itertools.product(models, pools, sites, seeds):
        site = "paper" if pool == "original" else site  # original ignores the sites
        key = (model, pool, site, seed)
        if key not in seen:
            seen.add(key)
            runs.append(dict(model=model, pool=pool, sites=site, seed=seed))
    return runs


def run_dir(out: str, run: dict) -> str:
    from ..report import pool_tag
    tag = pool_tag(run["pool"], run["sites"])
    return os.path.join(out, run["model"], tag, f"seed{run['seed']}")


def _sites_value(sites: str) -> str:
    return sites if sites in ("all", "paper") else "[" + sites + "]"


def _check(args) -> Optional[str]:
    from softpool3d.models import MODELS
    from softpool3d.pools import pool_names
    for m in args.models:
        if m not in MODELS:
            return f"unknown model {m!r}"
        if not os.path.isfile(config_path(args.dataset, m)):
            return f"no config {config_path(args.dataset, m)}"
    for p in args.pools:
        if p != "original" and p not in pool_names():
            return f"unknown pool {p!r}; expected original or one of {', '.join(pool_names())}"
    for s in args.sites:
        if s not in ("all", "paper") and not set(s.split(",")) <= set(SITES):
            return (f"bad --sites {s!r}: 'paper', 'all' or comma-separated names of "
                    f"{', '.join(SITES)}")
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        return "--jobs and --threads must be >= 1"
    if not args.seeds:
        return "no seeds"
    return _grid_key_override(args.overrides)


# config keys the grid sets for each run: an override of one would file a run under another cell
GRID_KEYS = {"model.name": "--models", "model.pool": "--pools", "model.pool_sites": "--sites",
             "train.seed": "--seeds", "train.output_dir": "--out", "data.name": "--dataset"}


def _grid_key_override(overrides) -> Optional[str]:
    from softpool3d.config import ConfigError, parse_override
    from softpool3d.engine.resume import flatten
    for text in overrides:
        try:
            keys = flatten(parse_override(text))
        except ConfigError as e:
            return str(e)
        for key in keys:
            for grid_key, option in GRID_KEYS.items():
                if key == grid_key or key.startswith(grid_key + ".") or \
                        grid_key.startswith(key + "."):
                    return (f"override {text!r} sets {grid_key}, which the sweep sets for each "
                            f"run (from {option}); change {option} instead")
    return None


def config_path(dataset: str, model: str) -> str:
    from softpool3d.config import shipped_config
    return shipped_config(f"{dataset}/{model}.yaml")


def train_command(args, run: dict, out_dir: str) -> List[str]:
    return [sys.executable, "-m", "softpool3d.cli.train", config_path(args.dataset, run["model"]),
            f"model.pool={run['pool']}", f"model.pool_sites={_sites_value(run['sites'])}",
            f"train.seed={run['seed']}", *args.overrides, "--output-dir", out_dir]


def _env(threads: int) -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def train_all(args, runs: List[dict], threads: int) -> List[str]:
    """Run the unfinished runs, ``args.jobs`` at a time; returns the failures."""
    from tqdm import tqdm
    todo = [r for r in runs if not os.path.isfile(os.path.join(run_dir(args.out, r),
                                                               "results.json"))]
    print(f"sweep: {len(runs)} runs, {len(runs) - len(todo)} finished already, {len(todo)} to "
          f"train ({args.jobs} at a time, {threads} threads each)", flush=True)
    failed, active = [], []
    with tqdm(total=len(todo), desc="sweep", unit="run") as bar:
        while todo or active:
            while todo and len(active) < args.jobs:
                r = todo.pop(0)
                d = run_dir(args.out, r)
                os.makedirs(d, exist_ok=True)
                log = open(os.path.join(d, "train.log"), "a")
                proc = subprocess.Popen(train_command(args, r, d), stdout=log,
                                        stderr=subprocess.STDOUT, env=_env(threads))
                active.append((proc, r, d, log, time.time()))
            time.sleep(0.5)
            for item in list(active):
                proc, r, d, log, t0 = item
                if proc.poll() is None:
                    continue
                log.close()
                active.remove(item)
                bar.update()
                tag = f"{r['model']} {r['pool']} sites={r['sites']} seed={r['seed']}"
                if proc.returncode != 0:
                    failed.append(f"{tag} (exit {proc.returncode}, see {d}/train.log)")
                bar.write(f"{'FAILED' if proc.returncode else 'done'}: {tag} "
                          f"({time.time() - t0:.0f} s)")
    return failed


def profile_all(args, runs: List[dict], threads: int) -> List[str]:
    """One profile per (model, pool, sites) at the runs' clip geometry (skipped when present)."""
    from softpool3d.config import load_config
    from softpool3d.engine.compose import resolve
    failed, done = [], set()
    folder = os.path.join(args.out, "profiles")
    os.makedirs(folder, exist_ok=True)
    for r in runs:
        key = (r["model"], r["pool"], r["sites"])
        if key in done:
            continue
        done.add(key)
        cfg = resolve(load_config(config_path(args.dataset, r["model"]), list(args.overrides)))
        d = cfg.data
        name = f"{r['model']}_{r['pool']}_{r['sites'].replace(',', '-')}_{d.num_frames}f_" \
               f"{d.test_crop_size or d.crop_size}px.json"
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            continue
        cmd = [sys.executable, "-m", "softpool3d.cli.profile", "--model", r["model"],
               "--pool", r["pool"], "--pool-sites", *r["sites"].split(","),
               "--frames", str(d.num_frames), "--crop", str(d.test_crop_size or d.crop_size),
               "--num-classes", str(cfg.model.num_classes or 8), "--batch",
               str(cfg.train.batch_size), "--device", "cpu", "--convention", "full",
               "--threads", str(threads), "--warmup", "2", "--iters", "5", "--json", path]
        print(f"profile: {' '.join(key)}", flush=True)
        with open(path[:-5] + ".log", "w") as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(threads))
        if code != 0:
            failed.append(f"profile {' '.join(key)} (exit {code})")
    return failed


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    error = _check(args)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    runs = plan(args.models, args.pools, args.sites, args.seeds)
    if args.dry_run:
        for r in runs:
            print(" ".join(train_command(args, r, run_dir(args.out, r))))
        return 0
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    failed = train_all(args, runs, threads)
    if not args.no_profile:
        failed += profile_all(args, runs, threads)  # the trainings' threads: comparable rates
    if args.report:
        from softpool3d.report import conclusion, write_report
        tables = write_report([args.out], os.path.join(args.out, "report"))
        for rows in tables.values():
            print(conclusion(rows))
        print(f"report: {os.path.join(args.out, 'report', 'report.md')}")
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
