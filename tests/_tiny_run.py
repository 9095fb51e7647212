"""Shared pieces of the end-to-end tests that train a real tiny model on generated videos: the
dataset sizes (conftest.py's ``data_root`` fixture makes one per module), the overrides that keep a
run to seconds, ``train`` (tools/train.py in-process; ``soft_train``/``soft_overrides`` for
SoftPool runs, conftest.py's ``soft_run`` fixture trains one per module), the environment for tools
run as subprocesses, ways to inspect or damage what a run wrote, and the video pieces several test
modules share (which decoders load, H.264 files of hand-picked encoder settings)."""
import itertools
import os
import zipfile
from functools import partial

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "synthetic", "r3d_tiny.yaml")

# real H.264 clips made by the project's generator (softpool3d.datasets.synthetic)
SMALL = dict(num_classes=2, train_per_class=3, test_per_class=1, frames=8, size=40)
MEDIUM = dict(num_classes=3, train_per_class=4, test_per_class=2, frames=16, size=64)

# what torchrun or a profiler session of the calling process would leak into a child
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
                 "MASTER_ADDR", "MASTER_PORT", "KINETO_LOG_LEVEL")


def make_data(root, size=SMALL):
    """A synthetic dataset of ``size`` (SMALL: 2 classes x (3 train + 1 test) clips of 8 frames,
    40 px) under ``root``; returns ``str(root)``."""
    from softpool3d.datasets import synthetic
    synthetic.generate(str(root), seed=0, workers=1, progress=False, **size)
    return str(root)


def overrides(root, *extra, pool="max"):
    return [f"data.root={root}", "data.crop_size=32", "data.train_scale=[32,36]",
            "data.test_scale=32", "data.test_crop_size=32", "data.workers=0", "data.num_clips=1",
            "train.batch_size=2", "optim.epochs=1", "train.tensorboard=false", f"model.pool={pool}",
            *extra]


def train(root, out, *extra, config=CONFIG, pool="max"):
    """tools/train.py on the tiny recipe (one thread); ``extra`` are more overrides and flags.
    Returns its exit status."""
    from softpool3d.cli import train as train_tool
    torch.set_num_threads(1)
    return train_tool.main([config, *overrides(root, pool=pool), *extra, "--output-dir", str(out)])


# most of the tests that inspect a run's files inspect SoftPool runs
soft_overrides = partial(overrides, pool="soft")
soft_train = partial(train, pool="soft")


def decoder_loads(decoder):
    """Whether the video decoder ``decoder`` (decord, torchcodec, ...) loads here."""
    from softpool3d.datasets.decode import check_decoder
    try:
        check_decoder(decoder)
        return True
    except ImportError:
        return False


def mux_h264(path, frames, options, container_options=None, rate=25):
    """Encode ``frames`` (uint8 ``(H, W, 3)`` arrays, any iterable) to an H.264 file at ``path``
    through PyAV, frame ``i`` at pts ``i``, with the encoder's ``options`` (crf, preset, g, ...) and
    the container's ``container_options`` (movflags): for videos the project's own writer would not
    make (misflagged keyframes, an index first). Returns ``path``."""
    import av
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt, s.options = first.shape[1], first.shape[0], "yuv420p", options
        for i, f in enumerate(itertools.chain([first], frames)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def tool_env(**extra):
    """The environment of a tool run as a subprocess: one OpenMP thread, nothing of a launcher
    around the test run (so a child torchrun or tool starts clean), plus ``extra``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **extra)
    for key in LAUNCHER_VARS:
        env.pop(key, None)
    return env


def snapshot(folder):
    """``{relative path: bytes}`` of every file under ``folder`` (to show it was not touched)."""
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = fh.read()
    return out


def tensor_records(path):
    """The zip members of a torch.save file that hold tensor bytes, largest first."""
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if "/data/" in f"/{i.filename}"]
    return sorted(infos, key=lambda i: -i.file_size)


def flip_bytes(path, count=4):
    """Flip ``count`` bytes in the middle of the largest tensor record of ``path`` (in place): the
    archive stays well-formed, ``torch.load`` reads it, only the record's CRC no longer matches.
    Returns the member's name."""
    info = tensor_records(path)[0]
    with open(path, "r+b") as f:
        f.seek(info.header_offset)
        header = f.read(30)  # the local file header: name and extra lengths at 26..30
        name_len = int.from_bytes(header[26:28], "little")
        extra_len = int.from_bytes(header[28:30], "little")
        start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        f.seek(start)
        data = f.read(count)
        f.seek(start)
        f.write(bytes(b ^ 0xFF for b in data))
    return info.filename
