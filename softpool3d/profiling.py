"""Cost of a model it is handed: parameters, FLOPs, peak memory and speed of inference and of one
training step (``softpool3d.cli.profile`` builds a registered model by name and profiles it here).

Memory is *measured*, never estimated, and means the same on both devices: the peak, over the step,
of memory allocated by the step beyond what was allocated when it started (activations, gradients,
optimizer state created in the step, temporaries). Weights, inputs and state that already existed
are excluded (``model_bytes`` reports the weights separately).

- CUDA: ``torch.cuda.max_memory_allocated() - memory_allocated()`` around the step.
- CPU: the allocator events recorded by ``torch.profiler`` (``profile_memory=True``), replayed in
  time order; the peak of their running sum.

Times are medians over ``iters`` runs after ``warmup`` runs (CUDA synchronised), reported with
their spread: the minimum, maximum and interquartile range (IQR); throughput is batch / median.
When IQR / median exceeds ``NOISY_SPREAD`` (20 %) the result carries a warning: the machine was
busy, throttled or swapping, and the median is not to be trusted (rerun with more ``iters``, on a
quiet machine). A training step is forward + cross-entropy + backward + SGD(momentum) step,
gradients set to None before each step.
"""
from __future__ import annotations

import os
import sys
import statistics
import time
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

from .flops import count_flops, count_params
from .model_inputs import fresh_input
from .runtime import AMP_DTYPES, autocast as _autocast, device_name as _device_name

__all__ = ["AMP_DTYPES", "NOISY_SPREAD", "measure_peak_memory", "profile_module",
           "compare_train_steps", "format_table", "make_inputs", "timing_summary"]

NOISY_SPREAD = 0.20  # IQR / median above this: the timing is flagged as noisy


# ---------------------------------------------------------------------------------------------
# inputs

def _nbytes(inputs) -> int:
    if isinstance(inputs, torch.Tensor):
        return inputs.numel() * inputs.element_size()
    return sum(_nbytes(x) for x in inputs)


def _shapes(inputs):
    if isinstance(inputs, torch.Tensor):
        return list(inputs.shape)
    return [_shapes(x) for x in inputs]


def make_inputs(spec: Dict[str, Any], batch: int = 1, frames: Optional[int] = None,
                crop: Optional[int] = None, device="cpu"):
    """Random clips for a model input spec (see ``softpool3d.models.model_input_spec``).

    ``frames`` defaults to ``spec["num_frames"]`` and ``crop`` to ``spec["test_crop_size"]``. For
    SlowFast (``spec["alpha"]`` set) ``frames`` is the fast pathway's length and the slow one gets
    ``frames // alpha``; the result is then the list ``[slow, fast]``.
    """
    frames = frames or spec["num_frames"]
    crop = crop or spec.get("test_crop_size") or spec["crop_size"]
    alpha = spec.get("alpha")

    def clip(t):
        return torch.randn(batch, 3, t, crop, crop, device=device)
    if alpha:
        return [clip(max(1, frames // alpha)), clip(frames)]
    return clip(frames)


# ---------------------------------------------------------------------------------------------
# measurement

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_KINETO_QUIETED = False


def _quiet_kineto() -> None:
    """On a machine without CUDA, keep torch.profiler's tracer (kineto) from printing
    ``gpuGetDeviceCount failed with code 35`` and its USDT start/stop lines to stderr: a CUDA build
    of torch probes the GPU when a trace ends, and the probe's failure is expected there. Kineto
    reads its log level (``KINETO_LOG_LEVEL``, 6: nothing) once, at the first trace of the
    process; a level the user set is kept, and the variable is unset again afterwards so that
    child processes do not inherit it."""
    global _KINETO_QUIETED
    if _KINETO_QUIETED or "KINETO_LOG_LEVEL" in os.environ or torch.cuda.is_available():
        return
    _KINETO_QUIETED = True
    os.environ["KINETO_LOG_LEVEL"] = "6"
    try:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]):
            pass
    finally:
        del os.environ["KINETO_LOG_LEVEL"]


def _cpu_profiler_peak(fn: Callable[[], Any]) -> int:
    """Peak of the running sum of CPU allocator events recorded while ``fn`` runs."""
    from torch.profiler import ProfilerActivity, profile

    _quiet_kineto()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    running = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak


def measure_peak_memory(fn: Callable[[], Any], device: torch.device) -> int:
    """Peak bytes allocated by ``fn`` beyond what was allocated when it started (see module doc)."""
    device = torch.device(device)
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        _sync(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    if device.type == "cpu":
        return int(_cpu_profiler_peak(fn))
    raise ValueError(f"memory measurement is not supported on {device.type}")


def times_ms(fn: Callable[[], Any], device: torch.device, warmup: int, iters: int,
             cpu_time: bool = False) -> List[float]:
    """Wall times (ms) of ``iters`` calls of ``fn`` after ``warmup`` calls, synchronising CUDA;
    with ``cpu_time`` (CPU only) the calling thread's CPU time instead (user + system: the work
    of one-thread runs, little disturbed by other processes on a shared machine)."""
    if cpu_time and device.type != "cpu":
        raise ValueError(f"cpu_time measures CPU work, not {device.type}")
    clock = time.thread_time if cpu_time else time.perf_counter
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(max(1, iters)):
        start = clock()
        fn()
        _sync(device)
        times.append((clock() - start) * 1e3)
    return times


def timing_summary(times: List[float], what: str) -> Dict[str, Any]:
    """Median, min, max, quartiles and relative spread (IQR / median) of ``times`` (ms), and a
    ``warning`` (None when the spread is at most ``NOISY_SPREAD``)."""
    times = sorted(times)
    median = statistics.median(times)
    if len(times) >= 2:
        q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    else:
        q1 = q3 = times[0]
    spread = (q3 - q1) / median if median > 0 else 0.0
    warning = None
    if spread > NOISY_SPREAD:
        warning = (f"{what} times vary: IQR {q3 - q1:.1f} ms is {100 * spread:.0f} % of the median "
                   f"{median:.1f} ms over {len(times)} runs (min {times[0]:.1f}, max "
                   f"{times[-1]:.1f}); the machine is busy or throttled: rerun with more --iters on "
                   "a quiet machine before trusting this number")
    return {"median": median, "min": times[0], "max": times[-1], "q1": q1, "q3": q3,
            "spread": spread, "runs": len(times), "warning": warning}


def _record_times(result: Dict[str, Any], prefix: str, times: List[float], what: str) -> float:
    """Store ``times``'s summary under ``<prefix>_ms`` / ``_min_ms`` / ``_max_ms`` / ``_iqr_ms`` /
    ``_spread`` / ``_runs`` (+ a warning in ``result["warnings"]``); returns the median."""
    t = timing_summary(times, what)
    result.update({f"{prefix}_ms": t["median"], f"{prefix}_min_ms": t["min"],
                   f"{prefix}_max_ms": t["max"], f"{prefix}_iqr_ms": t["q3"] - t["q1"],
                   f"{prefix}_spread": t["spread"], f"{prefix}_runs": t["runs"]})
    if t["warning"]:
        result.setdefault("warnings", []).append(t["warning"])
    return t["median"]


def _logits(output) -> torch.Tensor:
    return output[0] if isinstance(output, (list, tuple)) else output


def profile_module(model: nn.Module, inputs, *, flop_inputs=None, convention: str = "paper",
                   views: int = 1, device="cpu", amp: str = "none", warmup: int = 2,
                   iters: int = 5, train: bool = True, flops: bool = True,
                   progress: Optional[bool] = None, compile: bool = False) -> Dict[str, Any]:
    """Profile ``model`` on ``inputs`` (a tensor, or a list of tensors for SlowFast).

    ``compile``: also time ``torch.compile(model)`` (inference latency and train step, after
    untimed compiling calls) beside the eager model: ``compiled_infer_latency_ms``,
    ``compiled_train_step_ms`` and ``compile_s`` (the first calls' time, compilation included).

    FLOPs are counted on ``flop_inputs`` (default: the first clip of ``inputs``), i.e. per view;
    ``gflops_x_views`` multiplies by ``views``. Returns a flat JSON-ready dict (see ``FIELDS``);
    ``warnings`` lists noisy timings (see ``timing_summary``). With ``train``, the measured SGD
    steps (lr 1e-6) update the model's weights and BN statistics. ``progress``: a bar on stderr
    over the runs (None: when stderr is a terminal).
    """
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be one of {sorted(AMP_DTYPES)}, got {amp!r}")
    device = torch.device(device)
    model = model.to(device)
    inputs = _to(inputs, device)
    batch = _batch(inputs)
    result: Dict[str, Any] = {
        "device": device.type, "device_name": _device_name(device), "amp": amp, "batch": batch,
        "input_shape": _shapes(inputs), "views": views, "convention": convention,
        "params": count_params(model),
        "model_bytes": sum(t.numel() * t.element_size()
                           for t in list(model.parameters()) + list(model.buffers())),
        "torch": torch.__version__,
        "memory_method": "cuda.max_memory_allocated" if device.type == "cuda"
        else "torch.profiler memory events",
    }
    if flops:
        one = flop_inputs if flop_inputs is not None else _first(inputs)
        total, by_op, unsupported = count_flops(model, fresh_input(one), convention)
        result.update(flops_per_view=total, gflops_per_view=total / 1e9,
                      gflops_x_views=total * views / 1e9, flops_by_operator=by_op,
                      unsupported_ops=unsupported)

    model.eval()
    from tqdm import tqdm
    runs = (warmup + iters + 2) * (2 if train else 1)
    bar = tqdm(total=runs, desc="profiling", unit="run", leave=False, dynamic_ncols=True,
               disable=not (sys.stderr.isatty() if progress is None else progress))

    def ticking(fn):
        def run():
            out = fn()
            bar.update(1)
            return out
        return run

    @ticking
    def infer():
        with torch.no_grad(), _autocast(device, amp):
            return model(fresh_input(inputs))

    classes = _logits(infer()).shape[-1]  # also warms caches / lazy init before measuring
    result["infer_peak_bytes"] = measure_peak_memory(infer, device)
    times = times_ms(infer, device, warmup, iters)
    latency = _record_times(result, "infer_latency", times, "inference")
    result["infer_clips_per_s"] = batch * 1e3 / latency

    if train:
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
        target = torch.randint(0, classes, (batch,), device=device)
        scaler = torch.amp.GradScaler(device.type) if amp == "fp16" and device.type == "cuda" \
            else None

        def step():
            with _autocast(device, amp):
                loss = nn.functional.cross_entropy(_logits(model(fresh_input(inputs))).float(),
                                                   target)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()

        @ticking
        def train_step():
            optimizer.zero_grad(set_to_none=True)
            step()

        train_step()  # creates the momentum buffers, so the measured step is a steady-state one
        optimizer.zero_grad(set_to_none=True)
        result["train_peak_bytes"] = measure_peak_memory(ticking(step), device)
        times = times_ms(train_step, device, warmup, iters)
        step_ms = _record_times(result, "train_step", times, "training-step")
        result["train_clips_per_s"] = batch * 1e3 / step_ms
        optimizer.zero_grad(set_to_none=True)
        model.eval()
    bar.close()
    if compile:
        result.update(_profile_compiled(model, inputs, device, amp, warmup, iters, train, classes))
    return result


def _profile_compiled(model, inputs, device, amp, warmup, iters, train, classes) -> Dict[str, Any]:
    """Latency and train step of ``torch.compile(model)`` (see ``profile_module``)."""
    compiled = torch.compile(model)
    out: Dict[str, Any] = {}

    def infer():
        with torch.no_grad(), _autocast(device, amp):
            return compiled(fresh_input(inputs))

    start = time.perf_counter()
    model.eval()
    infer()
    compile_s = time.perf_counter() - start
    out["compiled_infer_latency_ms"] = statistics.median(times_ms(infer, device, warmup, iters))
    if train:
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
        target = torch.randint(0, classes, (_batch(inputs),), device=device)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, amp):
                loss = nn.functional.cross_entropy(_logits(compiled(fresh_input(inputs))).float(),
                                                   target)
            loss.backward()
            optimizer.step()

        start = time.perf_counter()
        step()
        compile_s += time.perf_counter() - start
        out["compiled_train_step_ms"] = statistics.median(times_ms(step, device, warmup, iters))
        optimizer.zero_grad(set_to_none=True)
        model.eval()
    out["compile_s"] = compile_s
    return out


def _to(inputs, device):
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    return [_to(x, device) for x in inputs]


def _batch(inputs) -> int:
    return inputs.shape[0] if isinstance(inputs, torch.Tensor) else _batch(inputs[0])


def _first(inputs):
    if isinstance(inputs, torch.Tensor):
        return inputs[:1]
    return [_first(x) for x in inputs]


def compare_train_steps(build: Callable[[str], nn.Module], pools: List[str], inputs, *,
                        rounds: int = 9, iters: int = 5, warmup: int = 3, device="cpu",
                        seed: int = 0) -> Dict[str, Any]:
    """Train-step time (SGD, ms) on ``inputs`` of the model ``build(pool)`` returns for each pooling
    method of ``pools`` (each built after ``torch.manual_seed(seed)``), measured side by side:
    ``rounds`` rounds, each timing ``iters`` steps of every model in turn (the order rotating each
    round), so that a machine that gets busier or cooler affects all alike.

    Returns ``{"pools": {pool: {"median_ms", "rounds_ms"}}, "overhead": {pool: ratio - 1 vs
    pools[0] (the median of the per-round ratios)}, "ratio_range": {pool: (min, max)}}``.
    """
    device = torch.device(device)
    inputs = _to(inputs, device)
    batch = _batch(inputs)
    steps = {}
    for pool in pools:
        torch.manual_seed(seed)
        model = build(pool).to(device).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
        target = torch.randint(0, 2, (batch,), device=device)

        def step(model=model, optimizer=optimizer, target=target):
            optimizer.zero_grad(set_to_none=True)
            logits = _logits(model(fresh_input(inputs))).float()
            nn.functional.cross_entropy(logits, target).backward()
            optimizer.step()
        for _ in range(warmup):
            step()
        steps[pool] = step
    per_round: Dict[str, List[float]] = {p: [] for p in pools}
    for r in range(rounds):
        order = pools[r % len(pools):] + pools[:r % len(pools)]
        for pool in order:
            per_round[pool].append(statistics.median(times_ms(steps[pool], device, 0, iters)))
    base = pools[0]
    ratios = {p: [a / b for a, b in zip(per_round[p], per_round[base])] for p in pools[1:]}
    return {"batch": batch, "rounds": rounds, "iters": iters, "device_name": _device_name(device),
            "reference": base,
            "pools": {p: {"median_ms": statistics.median(v), "rounds_ms": v}
                      for p, v in per_round.items()},
            "overhead": {p: statistics.median(v) - 1.0 for p, v in ratios.items()},
            "ratio_range": {p: (min(v), max(v)) for p, v in ratios.items()}}


FIELDS = ["model", "pool", "pool_sites", "num_classes", "num_frames", "crop_size", "num_clips",
          "num_crops", "softpool_extension", "device", "device_name", "amp", "batch", "input_shape",
          "views", "convention", "params", "model_bytes", "torch", "memory_method",
          "flops_per_view", "gflops_per_view", "gflops_x_views", "flops_by_operator",
          "unsupported_ops", "infer_peak_bytes", "infer_latency_ms", "infer_latency_min_ms",
          "infer_latency_max_ms", "infer_latency_iqr_ms", "infer_latency_spread",
          "infer_latency_runs", "infer_clips_per_s", "train_peak_bytes", "train_step_ms",
          "train_step_min_ms", "train_step_max_ms", "train_step_iqr_ms", "train_step_spread",
          "train_step_runs", "train_clips_per_s"]


def _mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def format_table(result: Dict[str, Any]) -> str:
    """A readable two-column table of a profile result."""
    def get(key, fmt="{}"):
        value = result.get(key)
        if value is None:
            return "-"
        return fmt(value) if callable(fmt) else fmt.format(value)
    views = result.get("views") or 1
    rows = [
        ("model", f"{get('model')} (pool={get('pool')}, sites={get('pool_sites')})"),
        ("input", f"{get('input_shape')} on {get('device_name')}, amp={get('amp')}"),
        ("params", get("params", "{:,}") + get("params", lambda n: f" ({n / 1e6:.2f} M)")),
        (f"GFLOPs ({get('convention')})",
         f"{get('gflops_per_view', '{:.2f}')} per view x {views} views = "
         f"{get('gflops_x_views', '{:.2f}')}"),
        ("peak memory, inference", _mib(result.get("infer_peak_bytes"))),
        ("peak memory, train step", _mib(result.get("train_peak_bytes"))),
        ("inference latency", _timing(result, "infer_latency") +
         get("infer_clips_per_s", "  ({:.2f} clips/s)")),
        ("train step", _timing(result, "train_step") +
         get("train_clips_per_s", "  ({:.2f} clips/s)")),
    ]
    if result.get("unsupported_ops"):
        rows.append(("uncounted ops", ", ".join(sorted(result["unsupported_ops"]))))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines += [f"warning: {w}" for w in result.get("warnings") or []]
    return "\n".join(lines)


def _timing(result: Dict[str, Any], prefix: str) -> str:
    """``"12.3 ms median, IQR 0.4 ms (3 %), min 11.9, max 13.0 over 5 runs"`` (older results
    without the spread: median and min)."""
    median = result.get(f"{prefix}_ms")
    if median is None:
        return "-"
    text = f"{median:.1f} ms median"
    if result.get(f"{prefix}_iqr_ms") is not None:
        text += (f", IQR {result[f'{prefix}_iqr_ms']:.1f} ms "
                 f"({100 * result[f'{prefix}_spread']:.0f} %)")
    if result.get(f"{prefix}_min_ms") is not None:
        text += f", min {result[f'{prefix}_min_ms']:.1f}"
    if result.get(f"{prefix}_max_ms") is not None:
        text += f", max {result[f'{prefix}_max_ms']:.1f} over {result[f'{prefix}_runs']} runs"
    return text
