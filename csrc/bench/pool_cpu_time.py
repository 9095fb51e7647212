"""SoftPool against max_pool3d and the composite formula in CPU time (time.process_time: the
CPU seconds of this process's threads), which a machine shared with other jobs disturbs far less
than wall time. Same shape and cases as tools/bench_pool.py plus a global pool; fp32, 2 threads.

    .venv/bin/python csrc/bench/pool_cpu_time.py [--iters 5]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import softpool3d

CASES = {"k2s2": ((2, 2, 2), (2, 2, 2), (0, 0, 0)), "stem": ((1, 3, 3), (1, 2, 2), (0, 1, 1)),
         "global": None}  # the whole (D, H, W) volume: a head pool


def composite(x, k, s, p):
    e = x.exp()
    return F.avg_pool3d(x * e, k, s, p) / F.avg_pool3d(e, k, s, p)


METHODS = {"soft": lambda x, k, s, p: softpool3d.soft_pool3d(x, k, s, p),
           "max": lambda x, k, s, p: F.max_pool3d(x, k, s, p), "composite": composite}


def cpu_ms(fn, iters, reps=4):
    """Median over `iters` of the mean CPU ms of `reps` calls (CPU clocks may tick coarsely)."""
    fn()
    times = []
    for _ in range(iters):
        t0 = time.process_time()
        for _ in range(reps):
            fn()
        times.append((time.process_time() - t0) * 1e3 / reps)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--shape", type=int, nargs=5, default=[4, 64, 16, 56, 56])
    args = parser.parse_args()
    torch.set_num_threads(2)
    base = torch.randn(args.shape)
    print("layout        case method     fwd cpu-ms  f+b cpu-ms  fwd/max  f+b/max  f+b/comp")
    for layout in ("contiguous", "channels_last"):
        x = base if layout == "contiguous" else base.contiguous(memory_format=torch.channels_last_3d)
        for case, geometry in CASES.items():
            k, s, p = geometry or (tuple(x.shape[2:]), tuple(x.shape[2:]), (0, 0, 0))
            res = {}
            for name, fn in METHODS.items():
                xg = x.clone().requires_grad_()

                def fwd_bwd():
                    y = fn(xg, k, s, p)
                    y.backward(torch.ones_like(y))
                    xg.grad = None
                with torch.no_grad():
                    fwd = cpu_ms(lambda: fn(x, k, s, p), args.iters)
                res[name] = (fwd, cpu_ms(fwd_bwd, args.iters))
            for name, (fwd, fb) in res.items():
                print(f"{layout:13s} {case} {name:10s} {fwd:10.1f} {fb:11.1f} "
                      f"{fwd / res['max'][0]:8.2f} {fb / res['max'][1]:8.2f} "
                      f"{fb / res['composite'][1]:9.2f}", flush=True)


if __name__ == "__main__":
    main()
