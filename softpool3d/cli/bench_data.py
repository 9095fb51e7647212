"""Data-loading benchmark: the project's loader (``VideoDataset``, train mode) vs raw decord
``get_batch`` (open + decode the same frames: the decode ceiling) vs pytorchvideo's
``LabeledVideoDataset`` (decord decoder), on the same clips, in one process and with DataLoader
workers; clips/s and ours/raw. Real H.264 videos: ``--videos``, or generated (textured, moving,
noisy content; 10 s at 25 fps) at the ``--sizes`` short sides into ``--workdir`` (kept and reused).

    python tools/bench_data.py                              # 320p and 720p, 1 process and 2 workers
    python tools/bench_data.py --keyint 25 --clips 16       # a keyframe every second
    python tools/bench_data.py --videos a.mp4 b.mp4 --json out.json

Same clips: the loader draws its clip starts from its seeded generator; the benchmark replays that
generator to hand the same frame indices to raw decord and pytorchvideo (checked on the first clip:
replayed decode + the loader's transform must equal the loader's sample). Transform steps for both
loaders: short side random in ``--scale``, ``--crop`` square crop, horizontal flip, normalise.
pytorchvideo's own transforms cannot be imported with torchvision 0.29, so its recipe
(UniformTemporalSubsample, /255, Normalize, RandomShortSideScale, RandomCrop, RandomHorizontalFlip,
in that order) runs as the equivalent torch operations on the clip it decodes (every frame of the
clip's span, as float32). One process: the methods take clips in turn (a busy spell on a shared
machine hits all alike) and ours/raw is the median of the per-clip time ratios. Workers runs: the
methods in turn, each worker of the loader drawing its own clips (same distribution).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

SIZES = {320: (568, 320), 360: (640, 360), 480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}


# ------------------------------------------------------------------------------------ videos
def render(width, height, frames, seed=0):
    """uint8 ``(frames, height, width, 3)``: a panned fine texture, a moving disk, pixel noise."""
    g = torch.Generator().manual_seed(seed)
    pad = 3 * frames
    tex = torch.rand(1, 3, (height + pad) // 3, (width + pad) // 3, generator=g) * 255
    tex = torch.nn.functional.interpolate(tex, size=(height + pad, width + pad), mode="bicubic")
    tex = tex[0].clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        f = tex[2 * t: 2 * t + height, 3 * t: 3 * t + width].astype(np.int16)
        cx, cy = width * (0.2 + 0.6 * t / frames), height * (0.5 + 0.3 * np.sin(t / 10))
        disk = (xx - cx) ** 2 + (yy - cy) ** 2 < (height / 8) ** 2
        f[disk] = f[disk] // 2 + 120
        f += rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
        out[t] = f.clip(0, 255)
    return out


def make_videos(folder, sizes, seconds=10, fps=25, keyint=None):
    """H.264 videos ``<folder>/h264_<short>p_k<keyint>.mp4`` (made once, then reused)."""
    from tqdm import tqdm

    from softpool3d.datasets.encode import write_video
    paths = []
    for short in tqdm(sizes, desc="videos", disable=None):
        if short not in SIZES:
            raise ValueError(f"--sizes: {short} is not one of {sorted(SIZES)}")
        path = Path(folder) / f"h264_{short}p_k{keyint or 'default'}.mp4"
        if not path.is_file():
            width, height = SIZES[short]
            write_video(path, render(width, height, int(seconds * fps)), fps=fps, crf=23,
                        keyint=keyint, threads=2)
        paths.append(str(path))
    return paths


# ------------------------------------------------------------------------------------ loaders
def our_dataset(paths, a):
    from softpool3d.datasets import VideoDataset
    from softpool3d.datasets.annotations import VideoRecord
    from softpool3d.datasets.transforms import TrainTransform
    records = [VideoRecord(p, 0) for p in paths]
    return VideoDataset(records, ["x"], mode="train", num_frames=a.frames, sampling_rate=a.rate,
                        transform=TrainTransform(a.crop, tuple(a.scale)), seed=a.seed,
                        decode_threads=1, strict=True, decoder=getattr(a, "decoder", "decord"))


def planned_clips(path, a):
    """``([(path, indices)], states)``: the clips ``our_dataset([path] * a.clips, a)[i]`` decodes
    in one process, from a replay of its generator (``VideoDataset.load`` draws the clip, then
    the transform draws on frames of the video's size), and the generator's state before each
    transform (to check the replay)."""
    from softpool3d.datasets.decode import open_video
    from softpool3d.datasets.sampling import train_clip_indices
    reader, count = open_video(path)
    height, width = reader[0].shape[:2]
    del reader
    ds = our_dataset([path], a)
    rng = ds.rng()
    blank = torch.zeros((a.frames, height, width, 3), dtype=torch.uint8)
    plan, states = [], []
    for _ in range(a.clips):
        idx = train_clip_indices(count, ds.num_frames, ds.sampling_rate, rng, ds.short)
        states.append(copy.deepcopy(rng.bit_generator.state))
        ds.transform(blank, rng)
        plan.append((path, idx))
    return plan, states


def check_replay(path, plan, states, a):
    """The first planned clip, decoded and transformed with the replayed generator, must equal the
    loader's first sample (else the methods would not see the same clips)."""
    from softpool3d.datasets.decode import read_frames
    ds = our_dataset([path], a)
    got = ds[0]["video"]
    g = np.random.default_rng()
    g.bit_generator.state = copy.deepcopy(states[0])
    if not torch.equal(ds.transform(read_frames(path, plan[0][1]), g), got):
        raise RuntimeError("the replayed clip differs from the loader's: the benchmark's replay of "
                           "VideoDataset's generator is out of date")


class RawClips(torch.utils.data.Dataset):
    """Open and decode the planned frames with the decoder's own calls, one thread, nothing else
    (decord: ``VideoReader`` + ``get_batch``; torchcodec: ``VideoDecoder`` + ``get_frames_at``);
    returns the frame count."""

    def __init__(self, plan, decoder="decord"):
        self.plan, self.decoder = plan, decoder

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, i):
        path, idx = self.plan[i]
        if self.decoder == "torchcodec":
            from torchcodec.decoders import VideoDecoder
            reader = VideoDecoder(path, dimension_order="NHWC", num_ffmpeg_threads=1,
                                  seek_mode="exact", device="cpu")
            return reader.get_frames_at(idx.tolist()).data.shape[0]
        import decord

        from softpool3d.datasets.decode import as_tensor
        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        return as_tensor(reader.get_batch(idx.tolist())).shape[0]


def pytorchvideo_dataset(plan, a, transform=True):
    """pytorchvideo's ``LabeledVideoDataset`` (decord) serving the planned clips, one per entry
    (``transform=False``: only the temporal subsampling, float32 ``(C, T, H, W)`` in [0, 255])."""
    import decord
    from pytorchvideo.data.clip_sampling import ClipInfo, ClipSampler
    from pytorchvideo.data.labeled_video_dataset import LabeledVideoDataset

    decord.bridge.set_bridge("torch")  # what pytorchvideo's decoder expects (its import sets it once)

    span = (a.frames - 1) * a.rate + 1

    class Planned(ClipSampler):
        def __init__(self):
            super().__init__(0)

        def __call__(self, last_clip_time, video_duration, annotation):
            # pytorchvideo decodes frames ceil(fps * start) .. ceil(fps * end) - 1
            s, fps = annotation["start"], annotation["fps"]
            return ClipInfo((s - 0.5) / fps, (s + span - 0.5) / fps, 0, 0, True)

    fps = {p: _fps(p) for p in {p for p, _ in plan}}
    entries = [(p, {"label": 0, "start": int(idx[0]), "fps": fps[p]}) for p, idx in plan]
    rng = np.random.default_rng(a.seed)
    mean = torch.tensor([0.45] * 3).view(3, 1, 1, 1)
    std = torch.tensor([0.225] * 3).view(3, 1, 1, 1)

    def recipe(sample):
        x = sample["video"]  # float32 (C, T, H, W) in [0, 255], every frame of the span
        x = x.index_select(1, torch.linspace(0, x.shape[1] - 1, a.frames).long())
        if not transform:
            return {"video": x, "label": sample["label"]}
        x = (x / 255.0 - mean) / std
        h, w = x.shape[-2:]
        short = int(rng.integers(a.scale[0], a.scale[1] + 1))
        size = (short, round(w * short / h)) if h <= w else (round(h * short / w), short)
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        top = int(rng.integers(0, x.shape[-2] - a.crop + 1))
        left = int(rng.integers(0, x.shape[-1] - a.crop + 1))
        x = x[..., top:top + a.crop, left:left + a.crop]
        if rng.random() < 0.5:
            x = x.flip(-1)
        return {"video": x.contiguous(), "label": sample["label"]}

    return LabeledVideoDataset(entries, Planned(), torch.utils.data.SequentialSampler,
                               transform=recipe, decode_audio=False, decoder="decord")


def _fps(path):
    import decord
    return float(decord.VideoReader(path, num_threads=1).get_avg_fps())


# ------------------------------------------------------------------------------------ timing
def clips_per_second(dataset, n, workers, desc):
    """Clips/s over ``n`` items of a DataLoader (``batch_size=None``), timed from the first item
    (worker start-up excluded)."""
    from tqdm import tqdm
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers,
                                         shuffle=False)
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    count = 0
    for _ in tqdm(range(n - 1), desc=desc, leave=False, disable=None):
        next(it)
        count += 1
    elapsed = time.perf_counter() - start
    del it
    return count / elapsed


def interleaved_clips_per_second(datasets, n, desc):
    """Clips/s of each of ``{name: dataset}`` in the main process, taking one clip from each in
    turn (so a busy spell on a shared machine hits every method alike), first clips excluded;
    ``(rates, per-clip ratio of the first two methods: the median of their time ratios)``."""
    from tqdm import tqdm
    iters = {k: iter(torch.utils.data.DataLoader(d, batch_size=None, num_workers=0))
             for k, d in datasets.items()}
    for it in iters.values():
        next(it)
    times = {k: [] for k in iters}
    for _ in tqdm(range(n - 1), desc=desc, leave=False, disable=None):
        for k, it in iters.items():
            start = time.perf_counter()
            next(it)
            times[k].append(time.perf_counter() - start)
    first, second = list(times)[:2]
    ratio = float(np.median(np.divide(times[second], times[first])))
    return {k: len(v) / sum(v) for k, v in times.items()}, ratio


def stages(ds, plan):
    """Milliseconds per clip of the loader's steps, run one by one on the planned clips."""
    from softpool3d.datasets.decode import get_frames, open_video
    from softpool3d.datasets.transforms import _box, _to_video
    from torchvision.transforms.v2 import functional as F
    tr, rng = ds.transform, np.random.default_rng(0)
    total = dict(open=0.0, decode=0.0, resized_crop=0.0, flip=0.0, normalise=0.0)
    for path, idx in plan:
        t0 = time.perf_counter()
        reader, _ = open_video(path, 1, ds.decoder)
        t1 = time.perf_counter()
        frames = get_frames(reader, idx, path)
        t2 = time.perf_counter()
        video = _to_video(frames)
        h, w = _box(*video.shape[-2:], int(rng.integers(*tr.scale)), tr.crop_size)
        video = F.resized_crop(video, 0, 0, h, w, [tr.crop_size] * 2, antialias=True)
        t3 = time.perf_counter()
        video = F.horizontal_flip(video)
        t4 = time.perf_counter()
        tr.finish(video)
        t5 = time.perf_counter()
        del reader
        for k, dt in zip(total, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            total[k] += dt
    return {k: round(v / len(plan) * 1000, 1) for k, v in total.items()}


def bench_video(path, a):
    """All methods on one video: ``{"rates": {workers: {method: clips/s}}, "stages_ms": ...}``."""
    torch.manual_seed(a.seed)  # the loader's generator is seeded from torch's seed too
    torch.set_num_threads(a.threads)
    plan, states = planned_clips(path, a)
    check_replay(path, plan, states, a)
    result = {"video": path, "clips": a.clips, "rates": {}}
    for workers in a.workers:
        runs = {"ours": [], "raw": []}
        if not a.no_pytorchvideo:
            runs["pytorchvideo"] = []
        ratios = []
        for rep in range(a.repeat):
            tag = f"{workers} workers, run {rep + 1}/{a.repeat}"
            made = {"ours": lambda: our_dataset([path] * a.clips, a),
                    "raw": lambda: RawClips(plan, a.decoder),
                    "pytorchvideo": lambda: pytorchvideo_dataset(plan, a)}
            if workers == 0:  # clip by clip in turn
                rates, ratio = interleaved_clips_per_second({k: made[k]() for k in runs},
                                                            a.clips, tag)
                ratios.append(ratio)
                for k, v in rates.items():
                    runs[k].append(v)
            else:  # methods in turn, each over all clips
                for k in runs:
                    runs[k].append(clips_per_second(made[k](), a.clips, workers, f"{k}, {tag}"))
                ratios.append(runs["ours"][-1] / runs["raw"][-1])
        rates = {k: float(np.median(v)) for k, v in runs.items()}
        rates["ours/raw"] = float(np.median(ratios))
        result["rates"][workers] = rates
        result.setdefault("runs", {})[workers] = runs
    result["stages_ms"] = stages(our_dataset([path], a), plan)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", nargs="+", help="videos to use (default: generate --sizes)")
    p.add_argument("--sizes", nargs="+", type=int, default=[320, 720],
                   help=f"short sides of the generated videos, from {sorted(SIZES)}")
    p.add_argument("--keyint", type=int, default=None, help="keyframe interval of the generated "
                   "videos in frames (default: x264's, 250 = one keyframe in 10 s)")
    p.add_argument("--workdir", default=os.path.join(os.path.expanduser("~"), ".cache", "softpool3d",
                                                     "bench_data"),
                   help="where generated videos are kept (default: %(default)s)")
    p.add_argument("--clips", type=int, default=12, help="clips per video and method")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--rate", type=int, default=4, help="sampling rate (frames between clip frames)")
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--scale", type=int, nargs=2, default=[256, 320], metavar=("MIN", "MAX"),
                   help="random short side before cropping")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                   help="DataLoader workers per run (0: in the main process)")
    p.add_argument("--repeat", type=int, default=3, help="runs per method (medians reported). "
                   "In one process the methods take clips in turn and ours/raw is the median of "
                   "the per-clip time ratios; with workers, the median of the per-run ratios")
    p.add_argument("--threads", type=int, default=1, help="torch threads in the main process")
    p.add_argument("--decoder", choices=("decord", "torchcodec"), default="decord",
                   help="the decoder of the loader and of the raw baseline (pytorchvideo: decord)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-pytorchvideo", action="store_true", help="skip pytorchvideo")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    if a.clips < 2 or min(a.frames, a.rate, a.threads, a.repeat) < 1 or min(a.workers) < 0:
        p.error("--clips must be >= 2; --frames, --rate, --threads, --repeat >= 1; --workers >= 0")
    if not a.crop <= a.scale[0] <= a.scale[1]:
        p.error(f"--scale must satisfy crop ({a.crop}) <= MIN <= MAX, got {a.scale}")
    bad = [s for s in a.sizes if s not in SIZES]
    if bad and not a.videos:
        p.error(f"--sizes: {bad} not in {sorted(SIZES)}")
    missing = [v for v in a.videos or [] if not os.path.isfile(v)]
    if missing:
        p.error(f"video not found: {missing[0]}")
    if not a.no_pytorchvideo:
        try:
            import pytorchvideo.data  # noqa: F401
        except ImportError as e:
            p.error(f"pytorchvideo cannot be imported ({e}); pass --no-pytorchvideo")
    if a.decoder != "decord":
        from softpool3d.datasets.decode import check_decoder
        try:
            check_decoder(a.decoder)
        except ImportError as e:
            p.error(str(e))
    paths = a.videos or make_videos(a.workdir, a.sizes, keyint=a.keyint)
    results = []
    for path in paths:
        r = bench_video(path, a)
        results.append(r)
        print(report(r, a), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "results": results}, indent=1))
    return 0


def report(r, a):
    """A few lines for one video: clips/s per method and workers, ours/raw, the stages."""
    import decord
    reader = decord.VideoReader(r["video"], num_threads=1)
    h, w = reader[0].shape[:2]
    keys = len(reader.get_key_indices())
    lines = [f"{os.path.basename(r['video'])}: {w}x{h}, {len(reader)} frames, {keys} keyframes; "
             f"{a.frames} frames x rate {a.rate}, short side {a.scale[0]}-{a.scale[1]}, crop {a.crop}; "
             f"decoder {a.decoder}"]
    for workers, rates in r["rates"].items():
        text = ", ".join(f"{k} {v:.2f}" for k, v in rates.items() if k != "ours/raw")
        lines.append(f"  workers {workers}: clips/s {text}; ours/raw {rates['ours/raw']:.2f} "
                     f"(medians of {a.repeat} runs)")
    lines.append("  loader steps, ms/clip: " + ", ".join(f"{k} {v}" for k, v in r["stages_ms"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
