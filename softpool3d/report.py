"""Collect training results and profiles into one accuracy-vs-cost table per dataset.

    softpool3d-report runs/ profiles/ --out report/      (or python tools/report.py ...)

Every path is a JSON file or a folder searched recursively for ``*.json``. A file is a *result*
(tools/train.py's ``results.json``) when it has ``top1`` or ``config`` (tools/test.py's
``test_results.json``: the mean over its folds, used only where no ``results.json`` sits beside it),
a *profile* (tools/profile_model.py --json) when it has ``flops_per_view`` or ``memory_method``; others
are skipped. Profiles join
results on (model, pool), preferring the same pool sites. Writes, per dataset, ``<dataset>.md``,
``<dataset>.csv`` and ``<dataset>.png`` (top-1 vs GFLOPs x views, marker area = peak training
memory, colour = pooling), and ``report.md`` with every table; prints that too. Missing values show
as "-".

Columns: accuracy from the result (percent); GFLOPs x views, params, peak training-step memory,
train step time and inference clips/s from the matched profile; without a profile, params and memory
fall back to what the result holds (its memory is the whole run's peak, a larger number).
"""
from __future__ import annotations

import csv
import json
import os
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple

COLUMNS = [  # (key, header)
    ("model", "model"), ("pool", "pooling"), ("top1", "top-1 (%)"), ("top5", "top-5 (%)"),
    ("gflops_x_views", "GFLOPs x views"), ("params_m", "params (M)"),
    ("train_peak_mib", "peak train mem (MiB)"), ("train_step_ms", "train step (ms)"),
    ("infer_clips_per_s", "inference clips/s"), ("skipped_videos", "skipped videos"),
    ("run", "run"),
]
NO_RESULTS = "profiles-only"
_FLOAT_KEYS = {"top1", "top5", "gflops_x_views", "params_m", "train_peak_mib", "train_step_ms",
               "infer_clips_per_s"}


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _first(*values):
    return next((v for v in values if v is not None), None)


def find_json(paths: Iterable[str]) -> List[str]:
    found = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, files in os.walk(path):
                found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".json")]
        elif os.path.isfile(path):
            found.append(path)
        else:
            print(f"report.py: no such file or folder: {path}", file=sys.stderr)
    return sorted(set(found))


def load(paths: Iterable[str]) -> Tuple[List[dict], List[dict]]:
    """``(results, profiles)`` from the JSON files under ``paths`` (each dict gets ``_path``)."""
    results, profiles = [], []
    for path in find_json(paths):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as err:
            print(f"report.py: skipping {path}: {err}", file=sys.stderr)
            continue
        if not isinstance(data, dict):
            continue
        data["_path"] = path
        if "flops_per_view" in data or "memory_method" in data:
            profiles.append(data)
        elif isinstance(data.get("mean"), dict) and "folds" in data:  # tools/test.py --folds
            results.append(_from_test_results(data))
        elif "top1" in data or "config" in data:
            results.append(data)
    # a run folder's results.json already holds its test; a test_results.json beside it is a rerun
    with_results = {os.path.dirname(r["_path"]) for r in results
                    if os.path.basename(r["_path"]) == "results.json"}
    results = [r for r in results if os.path.basename(r["_path"]) == "results.json"
               or os.path.dirname(r["_path"]) not in with_results]
    return results, profiles


def _from_test_results(data: dict) -> dict:
    """A result from tools/test.py's ``test_results.json``: the mean over its folds."""
    folds = [f for f in data["folds"].values() if isinstance(f, dict)]
    skipped = [f.get("skipped") for f in folds if isinstance(f.get("skipped"), int)]
    return {**{k: v for k, v in data.items() if k not in ("folds", "mean")},
            "top1": data["mean"].get("top1"), "top5": data["mean"].get("top5"),
            "skipped_videos": sum(skipped) if skipped else None}


def _sites(value) -> str:
    if value is None:
        return "all"
    return value if isinstance(value, str) else ",".join(map(str, value))


def _run_identity(result: dict) -> Dict[str, Any]:
    cfg = result.get("config") or {}
    return {
        "dataset": _first(result.get("dataset"), _get(cfg, "data", "name"),
                          _get(cfg, "data", "dataset")) or "-",
        "model": _first(result.get("model"), _get(cfg, "model", "name")),
        "pool": _first(result.get("pool"), _get(cfg, "model", "pool")),
        "pool_sites": _sites(_first(result.get("pool_sites"), _get(cfg, "model", "pool_sites"))),
    }


def _percent(value) -> Optional[float]:
    """Accuracy in percent; tools/train.py writes fractions in [0, 1]."""
    if not isinstance(value, (int, float)):
        return None
    return 100.0 * value if value <= 1.0 else float(value)


def _skipped(value) -> Optional[int]:
    """tools/train.py writes ``{"train", "val", "test", "total"}``; a plain number is accepted."""
    if isinstance(value, dict):
        value = _first(value.get("total"), sum(v for v in value.values() if isinstance(v, int))
                       if value else None)
    return value if isinstance(value, int) else None


def match_profile(ident: Dict[str, Any], profiles: List[dict]) -> Optional[dict]:
    same = [p for p in profiles if p.get("model") == ident["model"]
            and p.get("pool") == ident["pool"]]
    exact = [p for p in same if _sites(p.get("pool_sites")) == ident["pool_sites"]]
    pick = exact or same
    return pick[-1] if pick else None


def _mib(n) -> Optional[float]:
    return None if n is None else n / 2**20


def make_row(result: Optional[dict], profile: Optional[dict]) -> Dict[str, Any]:
    """One table row from a result and/or a profile; missing values are None."""
    r, p = result or {}, profile or {}
    ident = _run_identity(r) if result else {
        "dataset": NO_RESULTS, "model": p.get("model"), "pool": p.get("pool"),
        "pool_sites": _sites(p.get("pool_sites"))}
    params = _first(p.get("params"), r.get("params"))
    gflops = _first(p.get("gflops_x_views"), r.get("gflops_x_views"))
    # the profile's measured train-step peak; else the run's whole-process peak (CUDA
    # max_memory_allocated or CPU peak RSS, tools/train.py's "peak_memory")
    train_mem = _first(p.get("train_peak_bytes"), _get(r, "peak_memory", "bytes"))
    path = r.get("_path") or p.get("_path") or ""
    return {
        **ident,
        "top1": _percent(r.get("top1")), "top5": _percent(r.get("top5")),
        "gflops_x_views": gflops,
        "params_m": None if params is None else params / 1e6,
        "train_peak_mib": _mib(train_mem),
        "train_step_ms": _first(p.get("train_step_ms"), r.get("train_step_ms")),
        "infer_clips_per_s": _first(p.get("infer_clips_per_s"), r.get("infer_clips_per_s")),
        "skipped_videos": _skipped(r.get("skipped_videos")),
        "run": os.path.basename(os.path.dirname(os.path.abspath(path))) if path else "-",
    }


def build_tables(results: List[dict], profiles: List[dict]) -> Dict[str, List[dict]]:
    """Rows grouped by dataset; profiles matched to no result go to ``profiles-only``."""
    tables: Dict[str, List[dict]] = {}
    used = set()
    for result in results:
        ident = _run_identity(result)
        profile = match_profile(ident, profiles)
        if profile is not None:
            used.add(id(profile))
        tables.setdefault(ident["dataset"], []).append(make_row(result, profile))
    for profile in profiles:
        if id(profile) not in used:
            tables.setdefault(NO_RESULTS, []).append(make_row(None, profile))
    for rows in tables.values():
        rows.sort(key=lambda row: (str(row["model"]), str(row["pool"]), row["run"]))
    return tables


def fmt(value, key: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in _FLOAT_KEYS:
        value = float(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.1f}" if key in ("train_peak_mib", "train_step_ms") else f"{value:.2f}"
    return str(value)


def to_markdown(dataset: str, rows: List[dict]) -> str:
    lines = [f"## {dataset}", "", "| " + " | ".join(h for _, h in COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(k), k) for k, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: str, rows: List[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([h for _, h in COLUMNS])
        for row in rows:
            writer.writerow(["" if row.get(k) is None else row.get(k) for k, _ in COLUMNS])


def plot(path: str, dataset: str, rows: List[dict]) -> int:
    """Top-1 vs GFLOPs x views; marker area ~ peak training memory, colour = pooling. Returns the
    number of points drawn (rows without accuracy or GFLOPs are left out)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in rows if r["top1"] is not None and r["gflops_x_views"] is not None]
    pools = sorted({str(r["pool"]) for r in rows})
    colours = {p: plt.get_cmap("tab10")(i % 10) for i, p in enumerate(pools)}
    mems = [r["train_peak_mib"] for r in points if r["train_peak_mib"]]
    biggest = max(mems) if mems else 1.0
    fig, ax = plt.subplots(figsize=(7, 5))
    for r in points:
        size = 40 + 460 * (r["train_peak_mib"] / biggest) if r["train_peak_mib"] else 40
        ax.scatter(r["gflops_x_views"], r["top1"], s=size, color=colours[str(r["pool"])],
                   alpha=0.7, edgecolors="k", linewidths=0.5)
        ax.annotate(str(r["model"]), (r["gflops_x_views"], r["top1"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    for p in pools:
        ax.scatter([], [], color=colours[p], label=p)
    if pools:
        ax.legend(title="pooling (area = peak train memory)", fontsize=8)
    xs = [r["gflops_x_views"] for r in points if r["gflops_x_views"] > 0]
    if xs and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("GFLOPs x views")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"{dataset}: accuracy vs inference cost")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return len(points)
