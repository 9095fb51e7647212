"""Benchmark SoftPool against torch's pools and the composite formula users copy.

Methods: ``soft`` (softpool3d.soft_pool3d), ``ada`` (softpool3d.ada_pool3d with a learnable
scalar beta, whose gradient is part of forward+backward), ``composite`` (avg_pool3d(x e^x) / avg_pool3d(e^x)),
``max`` (F.max_pool3d), ``avg`` (F.avg_pool3d). For each device, layout, dtype and pooling case:
forward time (no_grad) and forward+backward time (median of --iters after --warmup), peak extra
memory of forward+backward, ratios against max_pool3d, the composite and SoftPool; on CUDA also SoftPool's
achieved bandwidth against a device-to-device copy measured in the same run. ``--cpu-time``
(CPU): one thread, its CPU time, minimum of --iters: the kernels' work, which other jobs on a
shared machine barely disturb (wall-clock ratios there move by ±20 % from run to run).

    python tools/bench_pool.py                         # CPU, (4, 64, 16, 56, 56)
    python tools/bench_pool.py --cpu-time --shape 2 64 8 56 56 --methods soft ada
    python tools/bench_pool.py --device cuda --shape 16 64 16 128 128 --json out.json
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from datetime import date

import torch
import torch.nn.functional as F

import softpool3d
from softpool3d.profiling import measure_peak_memory, times_ms

CASES = {  # name: (kernel, stride, padding)
    "k2s2": ((2, 2, 2), (2, 2, 2), (0, 0, 0)),
    "stem": ((1, 3, 3), (1, 2, 2), (0, 1, 1)),
}


def composite(x, k, s, p):
    e = x.exp()
    return F.avg_pool3d(x * e, k, s, p) / F.avg_pool3d(e, k, s, p)


_BETA = torch.tensor(0.5, requires_grad=True)  # AdaPool's learnable beta (one per layer)

METHODS = {
    "soft": lambda x, k, s, p: softpool3d.soft_pool3d(x, k, s, p),
    "ada": lambda x, k, s, p: softpool3d.ada_pool3d(x, _BETA.to(x.device), k, s, p),
    "composite": composite,
    "max": lambda x, k, s, p: F.max_pool3d(x, k, s, p),
    "avg": lambda x, k, s, p: F.avg_pool3d(x, k, s, p),
}


def summary_ms(fn, device, warmup, iters, cpu_time: bool = False) -> float:
    """Median wall time (ms), or with ``cpu_time`` the minimum thread CPU time."""
    times = times_ms(fn, device, warmup, iters, cpu_time)
    return min(times) if cpu_time else statistics.median(times)


def soft_bytes(x, y, backward: bool) -> int:
    """SoftPool's compulsory traffic: forward reads x, writes y and the fp32 lse; backward reads
    grad_output, x, y, lse and writes grad_input."""
    xb, yb, lse = x.numel() * x.element_size(), y.numel() * y.element_size(), y.numel() * 4
    return xb + yb + lse if not backward else yb + xb + yb + lse + xb


def bench_one(method, x, case, device, warmup, iters, cpu_time=False):
    k, s, p = CASES[case]
    fn = METHODS[method]
    try:
        with torch.no_grad():
            y = fn(x, k, s, p)
    except RuntimeError as err:  # e.g. CPU avg_pool3d has no float16
        return {"error": str(err).splitlines()[0]}
    g = torch.randn_like(y)
    xg = x.detach().clone().requires_grad_()

    def forward():
        with torch.no_grad():
            fn(x, k, s, p)

    def forward_backward():
        fn(xg, k, s, p).backward(g)
        xg.grad = None

    result = {
        "fwd_ms": summary_ms(forward, device, warmup, iters, cpu_time),
        "fwd_bwd_ms": summary_ms(forward_backward, device, warmup, iters, cpu_time),
        "peak_mib": measure_peak_memory(forward_backward, device) / 2**20,
    }
    if device.type == "cuda" and method == "soft":  # bandwidth only where the bytes are exact
        fwd_bytes, bwd_bytes = soft_bytes(x, y, False), soft_bytes(x, y, True)
        result["fwd_gbs"] = fwd_bytes / result["fwd_ms"] / 1e6
        bwd_ms = max(result["fwd_bwd_ms"] - result["fwd_ms"], 1e-6)
        result["bwd_gbs"] = bwd_bytes / bwd_ms / 1e6
    return result


def copy_bandwidth(x, device, warmup, iters) -> float:
    """Device-to-device copy bandwidth in GB/s (read + write) on a tensor of x's size."""
    dst = torch.empty_like(x)
    ms = summary_ms(lambda: dst.copy_(x), device, warmup, iters)
    return 2 * x.numel() * x.element_size() / ms / 1e6


def run(args):
    device = torch.device(args.device)
    rows, meta = [], {"date": str(date.today()), "device": args.device, "shape": args.shape,
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "machine": platform.processor() or platform.machine(),
                      "has_kernel": softpool3d.ops.has_kernel(device.type),
                      "clock": "thread CPU time, minimum" if args.cpu_time else "wall, median"}
    if device.type == "cuda":
        meta["gpu"] = torch.cuda.get_device_name(device)
    for layout in args.layouts:
        for dtype_name in args.dtypes:
            dtype = getattr(torch, dtype_name)
            x = torch.randn(args.shape, device=device, dtype=dtype)
            if layout == "channels_last":
                x = x.contiguous(memory_format=torch.channels_last_3d)
            copy_gbs = copy_bandwidth(x, device, args.warmup, args.iters) \
                if device.type == "cuda" else None
            for case in args.cases:
                results = {m: bench_one(m, x, case, device, args.warmup, args.iters,
                                        args.cpu_time) for m in args.methods}
                for method, res in results.items():
                    row = {"layout": layout, "dtype": dtype_name, "case": case, "method": method,
                           **res}
                    for ref in ("max", "composite", "soft"):
                        base = results.get(ref, {})
                        if "fwd_ms" in res and "fwd_ms" in base:
                            row[f"fwd_vs_{ref}"] = res["fwd_ms"] / base["fwd_ms"]
                            row[f"fwd_bwd_vs_{ref}"] = res["fwd_bwd_ms"] / base["fwd_bwd_ms"]
                    if copy_gbs:
                        row["copy_gbs"] = copy_gbs
                    rows.append(row)
                    print(format_row(row), flush=True)
            del x
    return {"meta": meta, "rows": rows}


HEADER = (f"{'layout':<13} {'dtype':<8} {'case':<5} {'method':<9} {'fwd ms':>8} {'f+b ms':>8} "
          f"{'peak MiB':>9} {'fwd/max':>8} {'f+b/max':>8} {'f+b/comp':>9} {'f+b/soft':>9} "
          f"{'GB/s f|b (copy)':>18}")


def format_row(r) -> str:
    if "error" in r:
        return f"{r['layout']:<13} {r['dtype']:<8} {r['case']:<5} {r['method']:<9} {r['error']}"

    def num(key, fmt="{:8.2f}"):
        return fmt.format(r[key]) if key in r else f"{'-':>8}"

    bw = (f"{r['fwd_gbs']:.0f}|{r['bwd_gbs']:.0f} ({r['copy_gbs']:.0f})"
          if "fwd_gbs" in r else "-")
    return (f"{r['layout']:<13} {r['dtype']:<8} {r['case']:<5} {r['method']:<9} "
            f"{r['fwd_ms']:8.2f} {r['fwd_bwd_ms']:8.2f} {r['peak_mib']:9.1f} {num('fwd_vs_max')} "
            f"{num('fwd_bwd_vs_max')} {num('fwd_bwd_vs_composite', '{:9.2f}')} "
            f"{num('fwd_bwd_vs_soft', '{:9.2f}')} {bw:>18}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--shape", type=int, nargs=5, default=[4, 64, 16, 56, 56])
    parser.add_argument("--layouts", nargs="+", default=["contiguous", "channels_last"],
                        choices=["contiguous", "channels_last"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"],
                        choices=["float32", "bfloat16", "float16", "float64"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true",
                        help="CPU only: one thread, thread CPU time, minimum of --iters")
    parser.add_argument("--json", help="write all rows and the run's metadata here")
    args = parser.parse_args(argv)
    if args.cpu_time and args.device != "cpu":
        print("error: --cpu-time measures CPU work; use it with --device cpu", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    if args.cpu_time:
        torch.set_num_threads(1)
    print(HEADER)
    out = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
