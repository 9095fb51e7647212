"""Exact-frame decoding with decord (``get_batch`` on computed indices; never ``seek`` + ``next``,
which returns the nearest keyframe instead of the requested frame) or torchcodec
(``VideoDecoder(seek_mode="exact").get_frames_at``): ``open_video(path, decoder=...)`` then
``get_frames(reader, indices)``, the same frames from either (bit for bit on H.264, MPEG-4, VP9).
torchcodec needs FFmpeg's shared libraries (Debian: libavcodec59 libavformat59 libavutil57
libswscale6 libswresample4); :func:`check_decoder` says why it cannot be used.

Every failure (missing, empty, unreadable, no video stream, fewer frames than the header reports)
raises :class:`VideoDecodeError` carrying the path and a short reason.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from softpool3d._errors import short_error


class VideoDecodeError(RuntimeError):
    """A video that cannot be read; ``.path`` and ``.reason`` say which and why."""

    def __init__(self, path, reason):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def _decord():
    import decord  # imported lazily: workers and tools that never decode do not pay for it
    return decord


DECODERS = ("decord", "torchcodec")


def _torchcodec():
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as e:  # not installed, or FFmpeg's libraries missing (fails at load)
        raise ImportError(f"the torchcodec decoder cannot be used here ({short_error(e, 300)}); "
                          "install it (pip install torchcodec) and FFmpeg's shared libraries "
                          "(Debian: libavcodec59 libavformat59 libavutil57 libswscale6 "
                          "libswresample4), or use decoder='decord'") from None
    return VideoDecoder


def check_decoder(decoder):
    """Raise ``ValueError`` for an unknown decoder name, ``ImportError`` (saying what to install)
    for one that cannot load here."""
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; expected one of {DECODERS}")
    if decoder == "torchcodec":  # decord is a dependency, imported when first needed
        _torchcodec()


def open_video(path, num_threads=1, decoder="decord"):
    """Open ``path`` with ``decord.VideoReader`` or torchcodec's ``VideoDecoder`` (``decoder``;
    CPU, ``num_threads`` decoder threads).

    Returns ``(reader, num_frames)``; raises :class:`VideoDecodeError` for missing, empty or
    unreadable files and for videos with no frames.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoDecodeError(path, "missing file")
    if not os.path.isfile(path):
        raise VideoDecodeError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        if decoder == "torchcodec":
            reader = _torchcodec()(path, dimension_order="NHWC", num_ffmpeg_threads=num_threads,
                                   seek_mode="exact", device="cpu")
        elif decoder == "decord":
            decord = _decord()
            reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=num_threads)
        else:
            raise ValueError(f"unknown decoder {decoder!r}; expected one of {DECODERS}")
        n = len(reader)
    except (ImportError, ValueError):
        raise
    except Exception as e:  # both raise RuntimeError (or their own) with FFmpeg's message
        raise VideoDecodeError(path, f"cannot open as video ({short_error(e, 160)})") from None
    if n < 1:
        raise VideoDecodeError(path, "no frames")
    return reader, n


def as_tensor(batch):
    """A decoded decord batch as a uint8 torch tensor, without a copy (DLPack; ``asnumpy`` copies,
    ~90 ms for 16 frames of 720p). Also accepts the torch tensors decord returns once another library
    (pytorchvideo's decord decoder) has switched decord's global bridge to torch."""
    if isinstance(batch, torch.Tensor):
        return batch
    return torch.from_dlpack(batch.to_dlpack())


def get_frames(reader, indices, path="<video>"):
    """Decode exactly the frames ``indices`` (any shape, repeats allowed) from an open reader.

    Each distinct frame is decoded once. Returns uint8 tensor ``(*indices.shape, H, W, 3)`` (the
    decoder's buffer, not a copy, when ``indices`` are sorted and distinct).
    Raises :class:`VideoDecodeError` when frames cannot be decoded (e.g. a truncated file that
    has fewer frames than its header reports).
    """
    indices = np.asarray(indices, dtype=np.int64)
    unique, inverse = np.unique(indices.reshape(-1), return_inverse=True)
    try:
        if hasattr(reader, "get_frames_at"):  # torchcodec
            batch = reader.get_frames_at(unique.tolist()).data
        else:
            batch = as_tensor(reader.get_batch(unique.tolist()))
    except Exception as e:
        if "CopyFromTo" in str(e):  # decord2 3.4.0 fails on some frame widths (e.g. 32, 48, 96)
            raise VideoDecodeError(path, "decord cannot copy frames of this width (a decord bug "
                                   "hit by some small widths such as 16, 32, 48, 96, 144 px); "
                                   "re-encode the video to another size "
                                   f"({short_error(e, 160)})") from None
        raise VideoDecodeError(path, f"cannot decode frames {_span(unique)} of {len(reader)} "
                               f"reported (truncated or corrupt? {short_error(e, 160)})") from None
    if batch.ndim != 4 or batch.shape[0] != len(unique) or batch.shape[-1] != 3 or batch.numel() == 0:
        raise VideoDecodeError(path, f"decoder returned frames of shape {batch.shape} for "
                               f"{len(unique)} requested")
    flat = indices.reshape(-1)
    if not np.array_equal(unique, flat):  # repeats or order: numpy indexing (no OpenMP in workers)
        batch = torch.from_numpy(batch.numpy()[inverse.reshape(-1)])
    return batch.reshape(*indices.shape, *batch.shape[1:])


def read_frames(path, indices, num_threads=1, decoder="decord"):
    """Open ``path`` and decode ``indices`` -> uint8 tensor ``(*indices.shape, H, W, 3)``."""
    reader, _ = open_video(path, num_threads, decoder)
    try:
        return get_frames(reader, indices, path)
    finally:
        del reader


# a video may hold this fraction fewer frames than its header reports (rounding, a dropped last
# frame) before it counts as truncated
FRAME_SHORTFALL = 0.05


def reported_frames(path):
    """The frame count the container's header reports (0 when it reports none, e.g. some WebM)."""
    import av  # lazily, like decord
    try:
        with av.open(os.fspath(path)) as container:
            streams = container.streams.video
            return int(streams[0].frames) if streams else 0
    except Exception:  # unreadable: the decoder says why
        return 0


def shortfall(reported, present, tolerance=FRAME_SHORTFALL):
    """A reason when ``present`` frames fall short of the ``reported`` ones by more than
    ``tolerance`` (a fraction, at least 1 frame); None otherwise."""
    if reported <= 0 or present >= reported or reported - present <= max(1, tolerance * reported):
        return None
    return (f"truncated: the header reports {reported} frames but only {present} are in the file "
            "(an incomplete download or copy; fetch it again)")


def probe_video(path, full=False, tolerance=FRAME_SHORTFALL):
    """Check that a video can be read. Returns ``(ok: bool, reason: str, num_frames: int)``.

    Quick: open it, decode the first, middle and last frames, and compare the frames found with
    the count the header reports (a truncated file fails; see :func:`shortfall`). ``full``: also
    decode every frame in order (so a file with fewer frames than indexed fails) and check that
    seeking is exact: the frame after each keyframe, decoded after a seek, must equal the same
    frame decoded sequentially (decord returns wrong frames after seeking to non-IDR keyframes).
    """
    try:
        reader, n = open_video(path)
        get_frames(reader, sorted({0, n // 2, n - 1}), path)
        problem = shortfall(reported_frames(path), n, tolerance)
        if problem:
            raise VideoDecodeError(path, problem)
        if full:
            _check_sequential_and_seek(path, n)
        return True, "", n
    except VideoDecodeError as e:
        return False, e.reason, 0


def _check_sequential_and_seek(path, n):
    reader, _ = open_video(path)
    digests = []
    try:
        for _ in range(n):
            digests.append(hash(as_tensor(reader.next()).numpy().tobytes()))
    except Exception as e:
        raise VideoDecodeError(path, f"truncated: only {len(digests)} of the {n} indexed frames "
                               f"decode ({short_error(e, 160)})") from None
    keys = [int(k) for k in reader.get_key_indices()]
    del reader
    for i in sorted({min(k + 1, n - 1) for k in keys[1:]} | {n // 2, n - 1}):
        fresh, _ = open_video(path)  # a fresh reader must seek to reach frame i
        if hash(get_frames(fresh, [i], path).numpy().tobytes()) != digests[i]:
            raise VideoDecodeError(path, f"inexact seeking: frame {i} decodes differently after a "
                                   "seek (keyframes that are not IDR frames?); re-encode it, e.g. "
                                   "with tools/prepare_dataset.py")


def _span(idx):
    return f"[{idx[0]}..{idx[-1]}]" if len(idx) > 1 else f"[{idx[0]}]"
