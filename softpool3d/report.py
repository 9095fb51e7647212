"""Accuracy-vs-cost report over repeated runs: results.json + profile JSONs -> tables and plots.

    softpool3d-report runs/ profiles/ --out report/      (or python tools/report.py ...)

Every path is a JSON file or a folder searched recursively for ``*.json``: a *result*
(tools/train.py's ``results.json``, or tools/test.py's ``test_results.json`` where no results.json
sits beside it) or a *profile* (tools/profile.py --json); others are skipped.

Runs are grouped by (dataset, model, pool, pool sites, clip geometry: frames x rate, crop, views).
Each run is classified by :mod:`softpool3d.convergence` (converged / climbing / at chance, from its
train top-1 history); only **converged** runs enter the statistics, and each row says "k of n
converged". A group gives the mean and 95 % t-interval (within 0-100 %) of top-1, top-5 and
mean-class accuracy over its converged runs, and the *paired* difference to the reference pool
(``original``, the published pools) over the seeds converged in both, with its interval (within
±100 points), the equivalence test at ``margin`` points and the three-way verdict better / worse /
equivalent / inconclusive (:mod:`softpool3d.stats`). A profile joins a group only when it matches
model, pool, sites, frames and crop; GFLOPs x views = the profile's GFLOPs per view x the run's own
number of views. Costs that no matching profile gives are left empty ("-"), never borrowed from
another geometry. Plots: mean top-1 with its interval against GFLOPs x views (the FLOP convention
on the axis) and against peak training memory; one fixed colour per pooling method in every plot,
one marker per model, the Pareto front (the best accuracy at each cost) drawn.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import convergence, stats
from .results import RunResult, TestResult, looks_like_results

REFERENCE = "original"
NO_RESULTS = "profiles-only"
METRICS = (("top1", "top-1"), ("top5", "top-5"), ("mean_class_acc", "mean class"))
# a fixed colour per pooling method (tab10 order), the same in every plot and report
POOL_COLOURS = {"original": "#7f7f7f", "max": "#1f77b4", "soft": "#d62728", "avg": "#2ca02c",
                "soft_paper": "#ff7f0e", "lp": "#9467bd", "stochastic": "#8c564b",
                "mixed": "#e377c2", "gated": "#bcbd22", "lip": "#17becf", "sum": "#393b79"}
MARKERS = "os^Dv<>pP*hX"


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


def load(paths: Iterable[str]) -> Tuple[List[RunResult], List[dict]]:
    """``(results, profiles)`` from the JSON files under ``paths``: each result read through
    :class:`softpool3d.results.RunResult` (its ``source``: the file), each profile a dict (with
    ``_path``)."""
    results, profiles = [], []
    for path in find_json(paths):
        try:
            with open(path) as f:
                data = json.load(f)
            if not isinstance(data, dict):
                continue
            if "flops_per_view" in data or "memory_method" in data:
                profiles.append(dict(data, _path=path))
            elif isinstance(data.get("mean"), dict) and "folds" in data:  # tools/test.py --folds
                results.append(_from_test_results(data, path))
            elif looks_like_results(data):
                results.append(RunResult.from_dict(data, source=path))
        except (OSError, ValueError) as err:
            print(f"report.py: skipping {path}: {err}", file=sys.stderr)
    # a run folder's results.json already holds its test; a test_results.json beside it is a rerun
    with_results = {os.path.dirname(r.source) for r in results
                    if os.path.basename(r.source) == "results.json"}
    results = [r for r in results if os.path.basename(r.source) == "results.json"
               or os.path.dirname(r.source) not in with_results]
    return results, profiles


def _from_test_results(data: dict, path: str) -> RunResult:
    """A result from tools/test.py's ``test_results.json``: the mean top-1 and top-5 over its
    folds (their skipped videos summed); its other keys that results.json also has are read as
    such, the rest kept in ``extra``."""
    folds = [f for f in data["folds"].values() if isinstance(f, dict)]
    skipped = [f.get("skipped") for f in folds if isinstance(f.get("skipped"), int)]
    record = RunResult.from_dict({k: v for k, v in data.items() if k not in ("folds", "mean")},
                                 source=path)
    record.test = TestResult(top1=data["mean"].get("top1"), top5=data["mean"].get("top5"),
                             skipped=sum(skipped) if skipped else None)
    return record


def _sites(value) -> str:
    if value is None:  # results written before the paper's protocol was the default
        return "all"
    return value if isinstance(value, str) else ",".join(map(str, value))


def _percent(value) -> Optional[float]:
    """Accuracy in percent; tools/train.py writes fractions in [0, 1]."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return 100.0 * value if value <= 1.0 else float(value)


def run_key(result: RunResult) -> Dict[str, Any]:
    """What identifies a configuration (everything but the seed) and the run's seed."""
    cfg = result.config or {}
    data = cfg.get("data") or {}
    pool = _first(result.pool, _get(cfg, "model", "pool"))
    clips, crops = data.get("num_clips"), data.get("num_crops")
    views = _first(result.value("num_views"), clips * crops if clips and crops else None)
    return {
        "dataset": _first(result.dataset, data.get("name")) or "-",
        "model": _first(result.model, _get(cfg, "model", "name")),
        "pool": pool,
        "pool_sites": "published" if pool == REFERENCE else
        _sites(_first(result.pool_sites, _get(cfg, "model", "pool_sites"))),
        "num_frames": data.get("num_frames"), "sampling_rate": data.get("sampling_rate"),
        "crop_size": _first(data.get("test_crop_size"), data.get("crop_size")),
        "views": views,
    }


INCLUDED = (convergence.CONVERGED, convergence.UNKNOWN)
GROUP = ("dataset", "model", "pool", "pool_sites", "num_frames", "sampling_rate", "crop_size",
         "views")
PAIR = ("dataset", "model", "num_frames", "sampling_rate", "crop_size", "views")


def _seed(result: RunResult):
    return _first(_get(result.config, "train", "seed"), result.extra.get("seed"), 0)


def match_profile(key: Dict[str, Any], profiles: List[dict]) -> Optional[dict]:
    """The last profile of the same model, pool, sites, frames and test crop (None if none)."""
    sites = key["pool_sites"]
    for p in reversed(profiles):
        psites = "published" if p.get("pool") == REFERENCE else _sites(p.get("pool_sites"))
        if (p.get("model"), p.get("pool"), psites) != (key["model"], key["pool"], sites):
            continue
        if key["num_frames"] is not None and p.get("num_frames") != key["num_frames"]:
            continue
        if key["crop_size"] is not None and p.get("crop_size") != key["crop_size"]:
            continue
        return p
    return None


def aggregate(results: List[RunResult], profiles: List[dict], reference: str = REFERENCE,
              confidence: float = 0.95, margin: float = stats.MARGIN) -> Dict[str, List[dict]]:
    """Rows (one per configuration) grouped by dataset; see the module docstring."""
    groups: Dict[tuple, dict] = {}
    for r in results:
        key = run_key(r)
        g = groups.setdefault(tuple(key[k] for k in GROUP), {"key": key, "runs": {}})
        g["runs"][_seed(r)] = r  # a seed run twice: the last one found counts
    rows = []
    for g in groups.values():
        key, all_runs = g["key"], g["runs"]
        status = {s: convergence.run_status(r.to_dict())["status"] for s, r in all_runs.items()}
        # converged runs, and runs without a history to judge (a test of a published checkpoint)
        runs = {s: r for s, r in all_runs.items() if status[s] in INCLUDED}
        row = dict(key, n=len(all_runs), seeds=sorted(all_runs), all_runs=all_runs, runs=runs,
                   status=status, converged=len(runs),
                   unknown=sum(st == convergence.UNKNOWN for st in status.values()))
        for m, _ in METRICS:
            row[m] = stats.summarize([_percent(r.value(m)) for r in runs.values()], confidence,
                                     stats.ACCURACY)
        prof = match_profile(key, profiles)
        row["profile"] = prof
        gpv = (prof or {}).get("gflops_per_view")
        if gpv is None and (prof or {}).get("flops_per_view") is not None:
            gpv = prof["flops_per_view"] / 1e9
        row["gflops_per_view"] = gpv
        row["gflops_x_views"] = gpv * key["views"] if gpv is not None and key["views"] else None
        row["convention"] = (prof or {}).get("convention")
        row["params"] = _first((prof or {}).get("params"),
                               *[r.extra.get("params") for r in runs.values()])
        row["train_peak_mib"] = None if (prof or {}).get("train_peak_bytes") is None \
            else prof["train_peak_bytes"] / 2**20
        row["train_step_ms"] = (prof or {}).get("train_step_ms")
        rates = [_train_rate(r) for r in runs.values()]
        row["train_clips_per_s"] = stats.summarize([x for x in rates if x is not None], confidence)
        rows.append(row)
    for row in rows:
        ref = next((o for o in rows if o["pool"] == reference
                    and all(o[k] == row[k] for k in PAIR)), None)
        row["paired"] = {}
        if ref is not None and row is not ref:
            for m, _ in METRICS:
                row["paired"][m] = stats.paired_difference(
                    {s: _percent(r.value(m)) for s, r in row["runs"].items()},
                    {s: _percent(r.value(m)) for s, r in ref["runs"].items()}, confidence, margin)
    tables: Dict[str, List[dict]] = {}
    for row in sorted(rows, key=lambda r: (str(r["model"]), r["pool"] != reference,
                                           str(r["pool"]), str(r["pool_sites"]))):
        tables.setdefault(row["dataset"], []).append(row)
    return tables


def _train_rate(result: RunResult) -> Optional[float]:
    """Training clips/s of a run over its epochs (from its history)."""
    hist = [h.get("train") or {} for h in result.history or []]
    clips = sum(h.get("clips", 0) for h in hist)
    secs = sum(h.get("time_s", 0) for h in hist)
    return clips / secs if clips and secs else None


# ------------------------------------------------------------------------------------ output
def _num(v, digits=2) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _diff(p: Optional[stats.Paired]) -> str:
    if p is None or p.n == 0:
        return "-"
    if p.low is None:
        return f"{p.mean:+.1f} (n={p.n})"
    return f"{p.mean:+.1f} [{p.low:+.1f}, {p.high:+.1f}] {_verdict_text(p)}"


def _verdict_text(p: stats.Paired) -> str:
    if p.verdict == stats.EQUIVALENT:
        return f"equivalent (±{p.margin:g})"
    if p.verdict == stats.INCONCLUSIVE:
        more = (f"~{p.seeds_needed} seeds would resolve it" if p.seeds_needed
                else f"over {stats.MAX_SEEDS} seeds needed")
        return f"inconclusive ({more})"
    return p.verdict


def _converged_cell(r: dict) -> str:
    k = r["converged"] - r["unknown"]
    return f"{k} of {r['n']}" + (f" ({r['unknown']} without history)" if r["unknown"] else "")


def _seed_values(r: dict, metric: str = "top1") -> str:
    """Each seed's value, those that did not converge marked with their state."""
    out = []
    for s in r["seeds"]:
        v = _percent(r["all_runs"][s].value(metric))
        text = "-" if v is None else f"{v:.1f}"
        state = r["status"][s]
        out.append(text if state in INCLUDED else f"({text}, {state})")
    return ", ".join(out)


HEADERS = ["model", "pooling", "sites", "clip (frames x rate, crop, views)", "converged",
           "top-1 % per seed", "top-1 % (mean [95% CI])", "top-5 %", "mean class %",
           f"Δ top-1 vs {REFERENCE} (paired, 95% CI)", "GFLOPs x views", "params (M)",
           "peak train mem (MiB)", "train step (ms)", "train clips/s"]


def table_rows(rows: List[dict]) -> List[List[str]]:
    out = []
    for r in rows:
        geom = f"{r['num_frames']}x{r['sampling_rate']}, {r['crop_size']}px, {r['views']}"
        conv = f" ({r['convention']})" if r.get("convention") else ""
        out.append([str(r["model"]), str(r["pool"]), str(r["pool_sites"]), geom,
                     _converged_cell(r), _seed_values(r), r["top1"].format(1), r["top5"].format(1), r["mean_class_acc"].format(1),
                     _diff(r["paired"].get("top1")),
                     _num(r["gflops_x_views"], 3) + (conv if r["gflops_x_views"] else ""),
                     _num(None if r["params"] is None else r["params"] / 1e6, 3),
                     _num(r["train_peak_mib"], 0), _num(r["train_step_ms"], 0),
                     r["train_clips_per_s"].format(0)])
    return out


def to_markdown(dataset: str, rows: List[dict]) -> str:
    lines = [f"## {dataset}", "", "| " + " | ".join(HEADERS) + " |",
             "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    swaps = swaps_markdown(rows)
    return "\n".join(lines) + "\n" + (f"\n{swaps}" if swaps else "")


def pool_swaps(row: dict) -> Optional[Dict[str, str]]:
    """``{module: "old -> new"}`` the row's runs replaced (results.json's ``pool_swaps``; None for
    results written without it). Runs of one row that disagree are a ValueError."""
    found = {json.dumps(r.pool_swaps, sort_keys=True) for r in row["all_runs"].values()
             if r.pool_swaps is not None}
    if len(found) > 1:
        raise ValueError(f"runs of {row['model']} / {row['pool']} ({row['pool_sites']}) replaced "
                         f"different modules: {sorted(found)}")
    return json.loads(found.pop()) if found else None


def swaps_markdown(rows: List[dict]) -> str:
    """The modules each configuration replaced, one line each."""
    lines = []
    for r in rows:
        swaps = pool_swaps(r)
        if swaps is None:
            continue
        what = f"{r['model']} / {pool_tag(str(r['pool']), str(r['pool_sites']))}"
        if not swaps:
            lines.append(f"- {what}: no module replaced (the published pools)")
        for name, change in swaps.items():
            lines.append(f"- {what}: `{name}`: {change}")
    return ("Replaced pooling modules:\n\n" + "\n".join(lines) + "\n") if lines else ""


def write_csv(path: str, rows: List[dict]) -> None:
    fields = ["dataset", "model", "pool", "pool_sites", "num_frames", "sampling_rate", "crop_size",
              "views", "n", "converged", "seeds"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        head = list(fields)
        for m, _ in METRICS:
            head += [f"{m}_mean", f"{m}_std", f"{m}_ci_low", f"{m}_ci_high",
                     f"{m}_diff", f"{m}_diff_ci_low", f"{m}_diff_ci_high", f"{m}_verdict",
                     f"{m}_seeds_needed"]
        head += ["gflops_x_views", "convention", "params", "train_peak_mib", "train_step_ms",
                 "train_clips_per_s"]
        w.writerow(head)
        for r in rows:
            line = [r[k] if k != "seeds" else " ".join(map(str, r[k])) for k in fields]
            for m, _ in METRICS:
                s, p = r[m], r["paired"].get(m)
                line += [s.mean, s.std, s.low, s.high] + \
                    ([p.mean, p.low, p.high, p.verdict, p.seeds_needed] if p and p.n
                     else [None] * 5)
            line += [r["gflops_x_views"], r["convention"], r["params"], r["train_peak_mib"],
                     r["train_step_ms"], r["train_clips_per_s"].mean]
            w.writerow(["" if v is None else v for v in line])


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the points (cost, accuracy) that no other point beats: nothing cheaper-or-equal
    is at least as accurate and strictly better in one of the two. Sorted by cost."""
    front = []
    for i, (c, a) in enumerate(points):
        if not any((c2 <= c and a2 >= a and (c2 < c or a2 > a)) for c2, a2 in points):
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def colour(pool: str) -> str:
    extra = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5"]
    return POOL_COLOURS.get(pool, extra[sum(map(ord, str(pool))) % len(extra)])


def axis_limits(values: Sequence[float], min_rel_span: float = 0.2) -> Tuple[float, float]:
    """Limits around ``values`` spanning at least ``min_rel_span`` of their centre (plus 10 %
    padding), so that a 1 % difference does not fill the axis."""
    lo, hi = min(values), max(values)
    centre = 0.5 * (lo + hi)
    half = 0.6 * max(hi - lo, min_rel_span * abs(centre), 1e-9)
    return centre - half, centre + half


def pool_tag(pool: str, sites: str) -> str:
    """``pool`` under the paper's protocol (or the published pools), else ``pool@sites``
    (``soft@all``, ``soft@head,global``): how runs are named in sweep folders and plots."""
    return pool if sites in ("paper", "published") else f"{pool}@{sites}"


def plot(path: str, dataset: str, rows: List[dict]) -> int:
    """Two panels (cost = GFLOPs x views, peak train memory) of mean top-1 over the converged
    seeds with thin CI bars and each seed's own value beside it (hollow: not converged); returns
    the number of configurations drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({str(r["model"]) for r in rows})
    marker = {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(models)}
    conv = next((r["convention"] for r in rows if r.get("convention")), None)
    panels = [("gflops_x_views", f"GFLOPs x views (fvcore, '{conv}' convention)" if conv
               else "GFLOPs x views"), ("train_peak_mib", "peak training-step memory (MiB)")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    drawn = 0
    for ax, (key, label) in zip(axes, panels):
        pts = [r for r in rows if r[key] is not None and r["all_runs"]]
        xy = [(r[key], r["top1"].mean) for r in pts if r["top1"].n]
        xs = [r[key] for r in pts]
        log = bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 20
        span = (max(xs) - min(xs)) or max(abs(max(xs)), 1e-9) if xs else 1.0
        ys = []
        for r in pts:
            x, t = r[key], r["top1"]
            # every seed beside the mean: filled = converged, hollow = not (not in the mean)
            dx = (lambda v: v * 1.04) if log else (lambda v: v + 0.02 * span)
            for seed in r["seeds"]:
                v = _percent(r["all_runs"][seed].value("top1"))
                if v is None:
                    continue
                ok = r["status"][seed] in INCLUDED
                ax.plot(dx(x), v, marker[str(r["model"])], ms=4, alpha=0.8,
                        mfc=colour(str(r["pool"])) if ok else "none", mec=colour(str(r["pool"])))
                ys.append(v)
            if not t.n:
                continue
            ys.append(t.mean)
            if t.low is not None:  # thin and light: a wide interval must not hide other points
                ax.vlines(x, t.low, t.high, color=colour(str(r["pool"])), lw=1.2, alpha=0.45)
            ax.plot(x, t.mean, marker[str(r["model"])], color=colour(str(r["pool"])), ms=8,
                    mec="k", mew=0.5)
            name = pool_tag(str(r["pool"]), str(r.get("pool_sites") or "all"))
            ci = "" if t.low is None else f" [{t.low:.0f}, {t.high:.0f}]"
            ax.annotate(f"{name} ({r['converged']}/{r['n']} conv.){ci}", (x, t.mean), fontsize=7,
                        xytext=(8, 4), textcoords="offset points")
        if xy:
            front = pareto_front(xy)
            ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "k--", lw=0.8,
                    alpha=0.6, label="Pareto front")
            drawn = max(drawn, len(xy))
        if xs:
            if log:
                ax.set_xscale("log")
            else:
                ax.set_xlim(*axis_limits(xs))
        if ys:  # limits from the means and seeds, not the intervals (a wide one runs off the axes)
            ax.set_ylim(max(0, min(ys) - 5), min(100, max(ys) + 5))
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 (%): mean of converged seeds, 95% CI bar; small: each seed")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colour(p), marker="o", ls="", label=p)
               for p in sorted({str(r["pool"]) for r in rows})]
    handles += [plt.Line2D([], [], color="k", marker=marker[m], ls="", label=m) for m in models]
    handles += [plt.Line2D([], [], color="k", ls="--", label="Pareto front")]
    fig.legend(handles=handles, fontsize=8, title="colour: pooling · marker: model",
               loc="center left", bbox_to_anchor=(1.0, 0.5))  # beside the panels, not over points
    fig.suptitle(f"{dataset}: accuracy vs cost")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return drawn


def _convergence_note(r: dict) -> str:
    text = f"{r['converged'] - r['unknown']} of {r['n']} runs converged"
    if r["unknown"]:
        text += f", {r['unknown']} without a training history"
    bad = ", ".join(f"seed {s}: {st}" for s, st in sorted(r["status"].items())
                    if st not in INCLUDED)
    return text + (f" ({bad}; left out)" if bad else "")


def conclusion(rows: List[dict], reference: str = REFERENCE) -> str:
    """One sentence per compared configuration, drawn from the paired top-1 difference over the
    seeds converged in both, with the three-way verdict and how many runs converged."""
    parts = []
    refs = {tuple(r[k] for k in PAIR): r for r in rows if r["pool"] == reference}
    for r in rows:
        if r["pool"] == reference:
            continue
        p = r["paired"].get("top1")
        ref = refs.get(tuple(r[k] for k in PAIR))
        what = f"{r['model']} with {r['pool']} pooling ({r['pool_sites']})"
        notes = f"{_convergence_note(r)}" + (f"; {reference}: {_convergence_note(ref)}"
                                            if ref is not None else "")
        if p is None or p.n == 0:
            parts.append(f"{what}: no seed converged in both it and {reference} ({notes})")
        elif p.low is None:
            parts.append(f"{what}: {p.mean:+.1f} points top-1 vs {reference} from {p.n} paired "
                         f"seed, too few for an interval ({notes})")
        else:
            ci = f"{p.mean:+.1f} points, 95% CI [{p.low:+.1f}, {p.high:+.1f}], {p.n} paired seeds"
            if p.verdict == stats.EQUIVALENT:
                verdict = (f"equivalent to {reference} in top-1 within ±{p.margin:g} points "
                           f"({ci}; 90% CI [{p.tost_low:+.1f}, {p.tost_high:+.1f}])")
            elif p.verdict == stats.INCONCLUSIVE:
                more = (f"about {p.seeds_needed} paired seeds at this spread would resolve it"
                        if p.seeds_needed else f"more than {stats.MAX_SEEDS} seeds would be "
                        "needed at this spread")
                verdict = (f"inconclusive against {reference} in top-1 ({ci}: neither a "
                           f"difference nor equivalence within ±{p.margin:g} points; {more})")
            else:
                verdict = f"{p.verdict} than {reference} by {abs(p.mean):.1f} points top-1 ({ci})"
            parts.append(f"{what}: {verdict}; {notes}")
    return "; ".join(parts) + "." if parts else f"nothing to compare with {reference}."


def write_report(paths: Iterable[str], out: str, do_plot: bool = True,
                 reference: str = REFERENCE) -> Dict[str, List[dict]]:
    """Load, aggregate and write ``<dataset>.md/.csv/.png`` and ``report.md`` into ``out``."""
    import re
    results, profiles = load(paths)
    tables = aggregate(results, profiles, reference)
    os.makedirs(out, exist_ok=True)
    sections = []
    for dataset in sorted(tables):
        rows = tables[dataset]
        stem = os.path.join(out, re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset) or "dataset")
        md = to_markdown(dataset, rows) + "\n" + conclusion(rows, reference) + "\n"
        if do_plot:
            plot(stem + ".png", dataset, rows)
            md += f"\n![{dataset}]({os.path.basename(stem)}.png)\n"
        sections.append(md)
        with open(stem + ".md", "w") as f:
            f.write(md)
        write_csv(stem + ".csv", rows)
    text = "# Accuracy vs cost\n\n" + "\n".join(sections)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    return tables
