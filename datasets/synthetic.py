"""A small action dataset of real encoded videos where only motion over time decides the class.

Layout (UCF-101's): ``classInd.txt``, ``trainlist01.txt``, ``testlist01.txt`` and
``<Class>/v_<Class>_gXX_cYY.mp4`` (H.264). Each clip has a random background (gradient, waves,
texture, static distractor blobs), a random two-tone shape and per-frame noise; the class is the
motion of that shape:

    MoveRight / MoveLeft / MoveUp / MoveDown   translation
    RotateClockwise / RotateCounterclockwise   rotation in place (as seen on screen)
    Approach / Recede                          growing / shrinking
    ShakeSlow / ShakeFast                      oscillation with a long / short period

The paired classes are exact time reversals of each other: for the same random stream,
``render_clip("MoveLeft", ...)`` is ``render_clip("MoveRight", ...)`` played backwards, so a single
frame (or the mean frame) carries no information about which of the pair it is, and with clips
sampled at random times a single frame does not reveal the direction.

Every clip is generated from ``SeedSequence([seed, class index, clip number])``: the dataset depends
only on the arguments, not on the number of workers. ``generate`` is idempotent: it skips finished
clips and writes the ``.complete`` marker last.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .decode import probe_video
from .encode import write_video
from .parallel import parallel_map

CLASSES = ("MoveRight", "MoveLeft", "MoveUp", "MoveDown", "RotateClockwise",
           "RotateCounterclockwise", "Approach", "Recede", "ShakeSlow", "ShakeFast")
# class -> (motion rendered, played backwards?)
_MOTION = {"MoveRight": ("move_x", False), "MoveLeft": ("move_x", True),
           "MoveDown": ("move_y", False), "MoveUp": ("move_y", True),
           "RotateClockwise": ("rotate", False), "RotateCounterclockwise": ("rotate", True),
           "Approach": ("grow", False), "Recede": ("grow", True),
           "ShakeSlow": ("shake_slow", False), "ShakeFast": ("shake_fast", False)}
SHAPES = ("disk", "square", "diamond", "triangle", "cross", "ellipse")
MARKER = ".complete"
VERSION = 4  # bump when the rendering changes: older datasets are regenerated


# ------------------------------------------------------------------------------------ rendering
def _shape_radius(shape, u, v):
    """A 'radius' that is <= 1 inside the unit shape, ~ distance/scale near the edge."""
    if shape == "disk":
        return np.sqrt(u * u + v * v)
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) * 1.15
    if shape == "diamond":
        return (np.abs(u) + np.abs(v)) * 0.85
    if shape == "triangle":
        r = None
        for k in range(3):
            a = np.pi / 2 + k * 2 * np.pi / 3
            d = (u * np.cos(a) + v * np.sin(a)) / 0.55
            r = d if r is None else np.maximum(r, d)
        return r
    if shape == "cross":
        return np.minimum(np.maximum(np.abs(u), np.abs(v) / 0.4), np.maximum(np.abs(u) / 0.4, np.abs(v)))
    if shape == "ellipse":
        return np.sqrt(u * u + (v / 0.55) ** 2)
    raise ValueError(f"unknown shape {shape!r}")


def _background(rng, size):
    """Random static background, float32 ``(size, size, 3)`` in [0, 255]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(30, 225, 3)
    grad = rng.uniform(-30, 30, (2, 3))
    bg = base + xx[..., None] * grad[0] + yy[..., None] * grad[1]
    f = rng.uniform(1, 6, 2) * 2 * np.pi
    bg = bg + rng.uniform(0, 12) * np.sin(f[0] * xx + f[1] * yy + rng.uniform(0, 6.3))[..., None]
    bg = bg + rng.normal(0, rng.uniform(0, 4), (size, size, 1)).astype(np.float32)
    for _ in range(int(rng.integers(0, 3))):  # static distractors
        c, r = rng.uniform(0, size, 2), rng.uniform(0.03, 0.06) * size
        m = ((xx * size - c[0]) ** 2 + (yy * size - c[1]) ** 2) <= r * r
        bg[m] = rng.uniform(0, 255, 3)
    return np.clip(bg, 0, 255).astype(np.float32), base


def _trajectory(motion, rng, frames, size):
    """Per-frame centre x/y, angle (rad, clockwise on screen) and scale (pixels) of the shape,
    which stays inside the frame."""
    t = np.arange(frames, dtype=np.float64) / max(frames - 1, 1)  # 0 .. 1 over the clip
    ang = np.full(frames, rng.uniform(0, 2 * np.pi))
    if motion in ("move_x", "move_y"):
        r = rng.uniform(0.13, 0.2) * size
        lo, hi = r + 0.02 * size, size - r - 0.02 * size
        dist = rng.uniform(0.3, 0.5) * size
        main = rng.uniform(lo, hi - dist) + dist * t
        side = np.clip(rng.uniform(lo, hi) + rng.uniform(-0.1, 0.1) * dist * t, lo, hi)
        cx, cy = (main, side) if motion == "move_x" else (side, main)
        return cx, cy, ang, np.full(frames, r)
    if motion == "rotate":
        r = rng.uniform(0.2, 0.3) * size
        # 3-6 degrees a frame: at the recipes' sampling rate (6) a sampled step turns 18-36
        # degrees, under half of the shapes' smallest symmetry (90 degrees), so the direction is
        # not aliased; at 8-16 degrees a frame a square's step of 48-96 degrees also looks like a
        # small turn the other way, and only the two-colour split told the pair apart
        ang = ang + np.deg2rad(rng.uniform(3, 6)) * t * (frames - 1)
        c = rng.uniform(1.15 * r, size - 1.15 * r, 2)
        return np.full(frames, c[0]), np.full(frames, c[1]), ang, np.full(frames, r)
    if motion == "grow":
        s0 = rng.uniform(0.08, 0.12) * size
        scale = s0 * rng.uniform(2.0, 2.8) ** t
        c = rng.uniform(1.15 * scale[-1], size - 1.15 * scale[-1], 2)
        return np.full(frames, c[0]), np.full(frames, c[1]), ang, scale
    if motion in ("shake_slow", "shake_fast"):
        r = rng.uniform(0.13, 0.18) * size
        period = rng.uniform(20, 30) if motion == "shake_slow" else rng.uniform(6, 8)
        amp, direction = rng.uniform(0.12, 0.2) * size, rng.uniform(0, np.pi)
        wave = amp * np.sin(2 * np.pi * t * (frames - 1) / period + rng.uniform(0, 2 * np.pi))
        c = rng.uniform(min(amp + r, size / 2), max(size - amp - r, size / 2), 2)
        return c[0] + wave * np.cos(direction), c[1] + wave * np.sin(direction), ang, \
            np.full(frames, r)
    raise ValueError(f"unknown motion {motion!r}")


def render_clip(class_name, rng, frames=24, size=112):
    """Render one clip of ``class_name`` from ``rng`` (``numpy.random.Generator``).

    Returns ``(video, info)``: uint8 ``(frames, size, size, 3)`` RGB, and a dict with the per-frame
    ``cx``, ``cy``, ``angle`` (radians, clockwise on screen), ``scale`` arrays of the moving shape.
    """
    if class_name not in _MOTION:
        raise ValueError(f"unknown class {class_name!r}; expected one of {CLASSES}")
    motion, backwards = _MOTION[class_name]
    bg, base = _background(rng, size)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    while True:
        col = rng.uniform(0, 255, 3)
        if np.abs(col - base).sum() > 200:
            break
    col2 = col * rng.uniform(0.3, 0.6) + (255 - col) * rng.uniform(0, 0.2)
    cx, cy, ang, scale = _trajectory(motion, rng, frames, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx = xx[None] - cx[:, None, None].astype(np.float32)
    dy = yy[None] - cy[:, None, None].astype(np.float32)
    c, s = np.cos(ang)[:, None, None], np.sin(ang)[:, None, None]
    sc = scale[:, None, None]
    u, v = (dx * c + dy * s) / sc, (-dx * s + dy * c) / sc
    alpha = np.clip((1 - _shape_radius(shape, u, v)) * sc + 0.5, 0, 1)[..., None]
    colour = np.where((u > 0)[..., None], col.astype(np.float32), col2.astype(np.float32))
    video = bg[None] * (1 - alpha) + colour * alpha
    video += rng.normal(0, rng.uniform(0, 3), video.shape[:3] + (1,)).astype(np.float32)
    video = np.clip(video, 0, 255).astype(np.uint8)
    info = dict(cx=cx, cy=cy, angle=ang, scale=scale, shape=shape)
    if backwards:
        video = video[::-1].copy()
        info = {k: (v[::-1].copy() if isinstance(v, np.ndarray) else v) for k, v in info.items()}
    return video, info


# ------------------------------------------------------------------------------------- dataset
def clip_plan(num_classes=8, train_per_class=30, test_per_class=10):
    """``[(class_index, clip_number, relative_path, split)]``; per class, test clips come first
    (groups g01, g02, ... of 4 clips, as UCF-101's split 1 tests on the first groups)."""
    if not 1 <= num_classes <= len(CLASSES):
        raise ValueError(f"num_classes must be in 1..{len(CLASSES)}, got {num_classes}")
    plan = []
    for ci, name in enumerate(CLASSES[:num_classes]):
        for k in range(test_per_class + train_per_class):
            rel = f"{name}/v_{name}_g{k // 4 + 1:02d}_c{k % 4 + 1:02d}.mp4"
            plan.append((ci, k, rel, "test" if k < test_per_class else "train"))
    return plan


def _make_clip(job):
    out_dir, seed, ci, k, rel, frames, size = job
    path = Path(out_dir) / rel
    if path.is_file() and path.stat().st_size > 0:
        return rel, False
    rng = np.random.default_rng(np.random.SeedSequence([seed, ci, k]))
    video, _ = render_clip(CLASSES[ci], rng, frames, size)
    write_video(path, video, fps=25, codec="libx264", crf=20, threads=1)
    return rel, True


def _params(seed, num_classes, train_per_class, test_per_class, frames, size):
    return dict(version=VERSION, seed=seed, num_classes=num_classes, train_per_class=train_per_class,
                test_per_class=test_per_class, frames=frames, size=size)


def _read_params(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_complete(out_dir, **params):
    """True if ``out_dir`` holds a finished dataset made with exactly these parameters."""
    return _read_params(Path(out_dir) / MARKER) == _params(**params)


def generate(out_dir, seed=0, num_classes=8, train_per_class=30, test_per_class=10, frames=24,
             size=112, workers=2, progress=True):
    """Generate (or complete) the dataset in ``out_dir`` and return its path.

    ``frames`` per clip (>= 2), ``size`` pixels square (even), ``workers`` processes (<= 1: inline).
    Already complete with the same parameters: returns at once. A dataset made with the same
    arguments by an older version of this generator is regenerated in place; one made with other
    arguments raises ``FileExistsError``.
    """
    if frames < 2 or size < 16 or size % 2:
        raise ValueError(f"need frames >= 2 and an even size >= 16, got frames={frames}, size={size}")
    params = _params(seed, num_classes, train_per_class, test_per_class, frames, size)
    out = Path(out_dir)
    if is_complete(out, **{k: v for k, v in params.items() if k != "version"}):
        return out
    out.mkdir(parents=True, exist_ok=True)
    started = out / ".generating.json"
    plan = clip_plan(num_classes, train_per_class, test_per_class)
    for f in (out / MARKER, started):
        old = _read_params(f)
        if old is None or old == params:
            continue
        if {**old, "version": VERSION} != params:
            raise FileExistsError(f"{out} holds a synthetic dataset made with other parameters "
                                  f"({f.name}: {json.dumps(old)}); remove it or choose another folder")
        for _, _, rel, _ in plan:  # an older generator's clips: same names, other content
            (out / rel).unlink(missing_ok=True)
        f.unlink()
    started.write_text(json.dumps(params))
    jobs = [(str(out), seed, ci, k, rel, frames, size) for ci, k, rel, _ in plan]
    _make_clip(jobs[0])  # fail early if the decoder cannot read this size
    ok, reason, _ = probe_video(out / jobs[0][4])
    if not ok:
        raise ValueError(f"videos of size {size} cannot be read back: {reason}")
    _run(jobs[1:], workers, progress)
    names = CLASSES[:num_classes]
    (out / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    (out / "trainlist01.txt").write_text(
        "".join(f"{rel} {ci + 1}\n" for ci, _, rel, split in plan if split == "train"))
    (out / "testlist01.txt").write_text(
        "".join(f"{rel}\n" for _, _, rel, split in plan if split == "test"))
    (out / MARKER).write_text(json.dumps(params))
    started.unlink()
    return out


def _run(jobs, workers, progress):
    for _ in parallel_map(_make_clip, jobs, workers, desc="synthetic videos", progress=progress,
                          chunksize=4, unit="clip"):
        pass


# ------------------------------------------------------------------------- frame-number pattern
def frame_number_video(num_frames, height=48, width=64, bits=8):
    """Test pattern: frame ``i`` shows the bits of ``i`` as ``bits`` vertical stripes (bit 0 on the
    left; light = 1). Returns uint8 ``(num_frames, height, width, 3)``; survives lossy codecs."""
    if num_frames > 1 << bits or width < 2 * bits:
        raise ValueError(f"need num_frames <= {1 << bits} and width >= {2 * bits}")
    stripe = width // bits
    video = np.full((num_frames, height, width, 3), 30, np.uint8)
    for i in range(num_frames):
        for b in range(bits):
            if (i >> b) & 1:
                video[i, :, b * stripe:(b + 1) * stripe] = 220
    return video


def decode_frame_numbers(frames, bits=8):
    """Read the frame numbers back from ``frame_number_video`` frames ``(..., H, W, 3)`` (numpy or
    tensor, uint8). Returns an int64 array of shape ``frames.shape[:-3]``."""
    frames = np.asarray(frames)
    stripe = frames.shape[-2] // bits
    centres = frames[..., :, [b * stripe + stripe // 2 for b in range(bits)], :].astype(np.float64)
    on = centres.mean(axis=(-3, -1)) > 125  # (..., bits)
    return (on * (1 << np.arange(bits))).sum(-1).astype(np.int64)
