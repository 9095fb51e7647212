"""Shared by the tests of hostile and careless inputs: a tiny real synthetic dataset (H.264 clips
made by the project's generator), a tiny real training through tools/train.py, and a way to
damage one tensor record of a checkpoint the way a disk error would (its zip CRC no longer
matches)."""
import os
import zipfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "synthetic", "r3d_tiny.yaml")


def make_data(root):
    """2 classes x (3 train + 1 test) real H.264 clips of 8 frames, 40 px, under ``root``."""
    from softpool3d.datasets import synthetic
    synthetic.generate(str(root), seed=0, num_classes=2, train_per_class=3, test_per_class=1,
                       frames=8, size=40, workers=1, progress=False)
    return str(root)


def overrides(root, *extra):
    return [f"data.root={root}", "data.crop_size=32", "data.train_scale=[32,36]",
            "data.test_scale=32", "data.test_crop_size=32", "data.workers=0", "data.num_clips=1",
            "train.batch_size=2", "optim.epochs=1", "train.tensorboard=false", "model.pool=soft",
            *extra]


def train(root, out, *extra):
    """tools/train.py on the tiny data (one thread); returns its exit status."""
    from softpool3d.cli import train as train_tool
    torch.set_num_threads(1)
    return train_tool.main([CONFIG, *overrides(root), *extra, "--output-dir", str(out)])


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
