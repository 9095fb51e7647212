"""Writing videos with PyAV: encode frame arrays, and re-encode a file to a given short side.

Outputs are written atomically (:mod:`softpool3d._files`: a hidden ``.partial`` file in the same
folder, renamed into place when complete), so an interrupted run never leaves a truncated video
under the final name.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from softpool3d._files import atomic_path

CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi",
                     ".mkv": "matroska", ".webm": "webm"}
DEFAULT_CODECS = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".avi": "mpeg4",
                  ".mkv": "libx264", ".webm": "libvpx-vp9"}


def _open_output(tmp, path, codec, width, height, fps, crf, keyint, threads, preset):
    """An output container on ``tmp`` for the final ``path`` (whose suffix picks the container)."""
    import av
    path = Path(path)
    fmt = CONTAINER_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported output container {path.suffix!r}; use one of "
                         f"{sorted(CONTAINER_FORMATS)}")
    codec = codec or DEFAULT_CODECS[path.suffix.lower()]
    if codec in ("libx264", "libx265", "mpeg4", "libvpx-vp9") and (width % 2 or height % 2):
        raise ValueError(f"{codec} with 4:2:0 chroma needs even frame sizes, got {width}x{height}")
    container = av.open(str(tmp), "w", format=fmt)
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    stream.codec_context.thread_count = threads
    opts = {}
    if codec in ("libx264", "libx265"):
        opts["preset"] = preset
        # min-keyint 1: every I-frame is an IDR frame. Otherwise x264 may flag non-IDR I-frames
        # (at scene cuts) as keyframes, and decord then returns wrong frames after seeking there.
        opts["keyint_min"] = "1"
        # mbtree off: with it, the same frames encoded twice (even single-threaded, even in one
        # process) gave different bitstreams, up to 50 grey levels apart once decoded, so a
        # generated dataset changed from one run to the next.
        opts["x264-params"] = "mbtree=0"
        if crf is not None:
            opts["crf"] = str(crf)
    elif crf is not None:  # mpeg4 / mjpeg: fixed quantiser; vp9: crf
        opts["crf" if codec.startswith("libvpx") else "qscale"] = str(crf)
        if codec == "mpeg4" or codec == "mjpeg":
            stream.codec_context.qscale = True  # honour qscale (constant quality)
    if keyint:
        stream.codec_context.gop_size = int(keyint)
    stream.options = opts
    return container, stream


def _finish(container, stream, ok):
    """Flush and close the output if everything succeeded, else only close it (the caller's
    :func:`atomic_path` then renames the file into place, or removes it)."""
    try:
        if ok:
            for packet in stream.encode():
                container.mux(packet)
        container.close()
    except BaseException:
        ok = False
        raise
    finally:
        if not ok:
            try:
                container.close()
            except Exception:
                pass


def write_video(path, frames, fps=25, codec=None, crf=None, keyint=None, threads=1,
                preset="veryfast"):
    """Encode uint8 RGB frames ``(T, H, W, 3)`` to ``path`` (container from the extension:
    .mp4/.mkv/.mov -> H.264, .avi -> MPEG-4 part 2, .webm -> VP9, unless ``codec`` is given).

    ``crf``: x264/VP9 CRF (0 = lossless luma for x264) or the mpeg4/mjpeg quantiser (2 = best).
    Written atomically (temporary file, then rename). Returns ``path``.
    """
    import av
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) with T >= 1, got {frames.shape} "
                         f"{frames.dtype}")
    path = Path(path)
    with atomic_path(str(path)) as tmp:
        container, stream = _open_output(tmp, path, codec, frames.shape[2], frames.shape[1], fps,
                                         crf, keyint, threads, preset)
        ok = False
        try:
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
            ok = True
        finally:
            _finish(container, stream, ok)
    return path


def scaled_size(width, height, short_side):
    """``(w, h)`` with the short side = ``short_side`` (never upscaled), both even."""
    s = min(short_side, min(width, height))
    f = s / min(width, height)
    even = lambda v: max(2, int(round(v / 2)) * 2)  # noqa: E731
    return even(width * f), even(height * f)


def reencode_video(src, dst, short_side=256, codec=None, crf=23, keyint=None, threads=1,
                   preset="veryfast"):
    """Re-encode ``src`` to ``dst`` with the short side resized to ``short_side`` (videos already
    smaller keep their size), the frame rate kept (as constant rate), audio dropped.

    Written atomically. Returns the number of frames written; raises on unreadable input (the
    partial output is removed).
    """
    import av
    dst = Path(dst)
    with av.open(str(src)) as inp, atomic_path(str(dst)) as tmp:
        if not inp.streams.video:
            raise ValueError(f"{src}: no video stream")
        vs = inp.streams.video[0]
        fps = vs.average_rate or vs.guessed_rate or vs.base_rate or 25
        tb = 1 / Fraction(fps).limit_denominator(1001)
        width, height = scaled_size(vs.codec_context.width, vs.codec_context.height, short_side)
        container, stream = _open_output(tmp, dst, codec, width, height, fps, crf, keyint, threads,
                                         preset)
        ok, count = False, 0
        try:
            for frame in inp.decode(vs):
                out = frame.reformat(width=width, height=height, format=stream.pix_fmt,
                                     interpolation="AREA")
                out.pts, out.time_base = count, tb
                for packet in stream.encode(out):
                    container.mux(packet)
                count += 1
            if count == 0:
                raise ValueError(f"{src}: no decodable frames")
            ok = True
        finally:
            _finish(container, stream, ok)
    return count
