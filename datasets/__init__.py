"""Video datasets (``softpool3d.datasets``): Kinetics-400/600/700, UCF-101, HMDB-51 and a generated
synthetic action set, all served by one map-style :class:`VideoDataset` (decord decoding,
torchvision v2 transforms).

    ds = build_dataset("ucf101", "data/ucf101", "train", fold=1, num_frames=8, sampling_rate=2)
    sample = ds[0]  # dict(video=(C,T,H,W) float32, label=int, index=int, skipped=int)
"""
from . import synthetic
from .annotations import AnnotationError, MissingVideosWarning, VideoRecord
from .registry import DATASETS, DatasetSpec, build_dataset, load_records
from .decode import VideoDecodeError, probe_video, read_frames
from .video_dataset import VideoDataset, loader_seed_kwargs, seed_worker

__all__ = ["build_dataset", "load_records", "VideoDataset", "DATASETS", "DatasetSpec", "synthetic",
           "seed_worker", "loader_seed_kwargs", "VideoRecord", "AnnotationError",
           "MissingVideosWarning", "VideoDecodeError", "probe_video", "read_frames"]
