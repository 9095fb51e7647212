"""Information retention of pooling methods (the SoftPool paper's SSIM/PSNR experiment, on video).

Each clip (RGB in [0, 1]) is downsampled by every pooling method with kernel = stride = 2, either
per frame (``2d``: window 1x2x2) or spatio-temporally (``3d``: window 2x2x2), upsampled back to the
input size (``--upsample``: ``nearest`` (default; each pooled value fills its own window) or
``trilinear``, align_corners=False), clamped to [0, 1] and compared with the original frame by
frame with scikit-image's PSNR and SSIM (data_range 1, SSIM over RGB with a 7x7 window). Reported
values are means over all frames of all clips. Frames are cropped to even height/width and clips to
an even length first, so windows tile the input exactly. Default input: a small copy of the
embedded synthetic dataset (16 videos, 112 px), generated into a temporary folder (``--data-dir``
to keep it); up to ``--max-videos`` videos spread over the list, the first ``--frames`` of each.

SoftPool is not scale-equivariant: ``--scale s`` pools ``s * x`` and divides the result by ``s``
(max/avg are unaffected). ``s = 1`` pools [0, 1] pixels, where SoftPool lies between avg and max;
``s = 255`` pools 8-bit pixel values, where it is close to max. Learnable methods (e.g. gated, lip)
run at their initialisation, stochastic ones in eval mode.

    python tools/bench_retention.py                         # the embedded synthetic dataset
    python tools/bench_retention.py --videos a.mp4 b.avi --json out/retention.json --plot out/r.png
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import warnings
from typing import Dict, List, Sequence


import numpy as np
import torch
import torch.nn.functional as F

KERNELS = {"2d": (1, 2, 2), "3d": (2, 2, 2)}
DEFAULT_METHODS = ("max", "avg", "soft", "ada")
# "sum" is avg times the window volume: its values leave [0, 1], so it is left out unless asked for.
EXCLUDED_BY_DEFAULT = ("sum",)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


# ---------------------------------------------------------------------------------------------
# metrics

def frame_metrics(original: np.ndarray, restored: np.ndarray) -> tuple:
    """``(psnr, ssim)`` of two ``(H, W, 3)`` float images in [0, 1]; identical images give
    ``(inf, 1.0)``."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # PSNR of identical images divides by 0
        psnr = peak_signal_noise_ratio(original, restored, data_range=1.0)
    ssim = structural_similarity(original, restored, data_range=1.0, channel_axis=-1)
    return float(psnr), float(ssim)


def clip_metrics(original: torch.Tensor, restored: torch.Tensor) -> tuple:
    """Mean ``(psnr, ssim)`` over the frames of two ``(3, T, H, W)`` clips in [0, 1]."""
    a = original.permute(1, 2, 3, 0).double().numpy()
    b = restored.permute(1, 2, 3, 0).double().numpy()
    values = [frame_metrics(x, y) for x, y in zip(a, b)]
    return float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values]))


# ---------------------------------------------------------------------------------------------
# pooling

def build_method(name: str, kernel) -> torch.nn.Module:
    """A pooling module of the zoo (``softpool3d.pools``) with kernel = stride, for RGB input."""
    from softpool3d.pools import build_pool

    return build_pool(name, kernel, stride=kernel, channels=3).eval()


def restore(pool: torch.nn.Module, clip: torch.Tensor, upsample: str = "nearest",
            scale: float = 1.0) -> torch.Tensor:
    """Pool a ``(3, T, H, W)`` clip, upsample back to its size, clamp to [0, 1]."""
    with torch.no_grad():
        down = pool(clip.unsqueeze(0) * scale) / scale
        kwargs = {} if upsample == "nearest" else {"align_corners": False}
        up = F.interpolate(down.float(), size=tuple(clip.shape[1:]), mode=upsample, **kwargs)
    return up.squeeze(0).clamp(0.0, 1.0)


def _even(clip: torch.Tensor) -> torch.Tensor:
    t, h, w = (s - s % 2 for s in clip.shape[1:])
    return clip[:, :t, :h, :w]


def evaluate(clips: Sequence[torch.Tensor], methods: Sequence[str] = DEFAULT_METHODS,
             modes: Sequence[str] = ("2d", "3d"), upsample: str = "nearest",
             scale: float = 1.0) -> List[Dict]:
    """Rows ``{method, mode, psnr, ssim, clips, frames}`` (means over every frame), or
    ``{method, mode, error}`` for a method that could not run."""
    clips = [_even(c.float()) for c in clips]
    rows = []
    for mode in modes:
        for method in methods:
            row = {"method": method, "mode": mode}
            try:
                pool = build_method(method, KERNELS[mode])
                scores = [clip_metrics(c, restore(pool, c, upsample, scale)) for c in clips]
            except Exception as err:  # one broken method must not hide the others
                row["error"] = f"{type(err).__name__}: {err}"
                rows.append(row)
                continue
            row.update(psnr=float(np.mean([s[0] for s in scores])),
                       ssim=float(np.mean([s[1] for s in scores])),
                       clips=len(clips), frames=sum(c.shape[1] for c in clips))
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# data

def load_clips(videos: Sequence[str], frames: int, max_videos: int) -> List[torch.Tensor]:
    """The first ``frames`` frames of up to ``max_videos`` videos as ``(3, T, H, W)`` in [0, 1]."""
    from softpool3d.datasets.decode import open_video, get_frames

    clips = []
    for path in spread(videos, max_videos):
        reader, n = open_video(path)
        idx = np.arange(min(frames, n))
        clip = get_frames(reader, idx, path)  # (T, H, W, 3) uint8
        clips.append(clip.permute(3, 0, 1, 2).float() / 255.0)
    return clips


def spread(items: Sequence[str], n: int) -> List[str]:
    """Up to ``n`` items evenly spaced through ``items`` (e.g. one video per class folder)."""
    items = list(items)
    return items[::max(1, len(items) // max(1, n))][:n]


def find_videos(root: str) -> List[str]:
    found = []
    for base, _, files in os.walk(root):
        found += [os.path.join(base, f) for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    return sorted(found)


def synthetic_videos(data_dir: str, seed: int) -> List[str]:
    """List the videos under ``data_dir``; if it has none, generate a small copy of the embedded
    synthetic dataset there first (one train and one test clip per class: 16 videos, 112 px)."""
    if not find_videos(data_dir):
        from softpool3d.datasets import synthetic
        synthetic.generate(data_dir, seed=seed, train_per_class=1, test_per_class=1,
                           progress=False)
    return find_videos(data_dir)


# ---------------------------------------------------------------------------------------------
# output

def to_markdown(rows: List[Dict]) -> str:
    lines = ["| method | mode | PSNR (dB) | SSIM |", "|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['mode']} | error | {r['error'][:60]} |")
        else:
            lines.append(f"| {r['method']} | {r['mode']} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    return "\n".join(lines)


def plot(rows: List[Dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    modes = sorted({r["mode"] for r in ok})
    methods = list(dict.fromkeys(r["method"] for r in ok))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / max(1, len(modes))
    for ax, key, label in zip(axes, ("psnr", "ssim"), ("PSNR (dB)", "SSIM")):
        for i, mode in enumerate(modes):
            vals = {r["method"]: r[key] for r in ok if r["mode"] == mode}
            xs = [j + i * width for j in range(len(methods))]
            ys = [vals.get(m, float("nan")) for m in methods]
            ax.bar(xs, [y if math.isfinite(y) else float("nan") for y in ys], width, label=mode)
        ax.set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(methods))])
        ax.set_xticklabels(methods, rotation=30)
        finite = [r[key] for r in ok if math.isfinite(r[key])]
        if finite:  # zoom in: the methods differ by a few dB / hundredths of SSIM
            low, high = min(finite), max(finite)
            ax.set_ylim(low - 0.25 * (high - low + 1e-3), high + 0.25 * (high - low + 1e-3))
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, [f"window {m}" for m in labels], loc="upper right", ncol=len(modes))
    fig.suptitle("Information retention: pool (k=2), upsample back", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", nargs="+", help="video files or folders (default: synthetic data)")
    p.add_argument("--data-dir",
                   help="where to generate the synthetic dataset (default: a temp dir)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", help="pooling methods (default: every method of "
                   "softpool3d.pools.POOLS but sum)")
    p.add_argument("--modes", nargs="+", default=["2d", "3d"], choices=sorted(KERNELS))
    p.add_argument("--upsample", default="nearest", choices=["nearest", "trilinear"])
    p.add_argument("--scale", type=float, default=1.0, help="pool scale*x, divide by scale")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (from the start)")
    p.add_argument("--max-videos", type=int, default=8)
    p.add_argument("--json", help="write rows + settings as JSON here")
    p.add_argument("--plot", help="write a PNG bar chart here")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.videos:
            videos = []
            for v in args.videos:
                videos += find_videos(v) if os.path.isdir(v) else [v]
        else:
            videos = synthetic_videos(args.data_dir or tmp, args.seed)
        if not videos:
            print("error: no videos found", file=sys.stderr)
            return 2
        clips = load_clips(videos, args.frames, args.max_videos)
    if args.methods:
        methods = args.methods
    else:
        from softpool3d.pools import POOLS
        methods = [m for m in POOLS if m not in EXCLUDED_BY_DEFAULT]
    rows = evaluate(clips, methods, args.modes, args.upsample, args.scale)
    print(f"{len(clips)} clips, {sum(c.shape[1] for c in clips)} frames, upsample={args.upsample}, "
          f"scale={args.scale}")
    print(to_markdown(rows))
    settings = {"videos": spread(videos, args.max_videos), "frames": args.frames,
                "kernels": KERNELS, "upsample": args.upsample, "scale": args.scale}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"settings": settings, "rows": rows}, f, indent=2)
    if args.plot:
        os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
        plot(rows, args.plot)
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
