"""Video networks for the benchmark (import as ``softpool3d.models``): pytorchvideo's R3D/Slow/
C2D/I3D/CSN/R(2+1)D/SlowFast/X3D and torchvision's R3D-18, small CPU variants, every pooling layer
swappable by a method of :mod:`softpool3d.pools`, and local checkpoint loading.

    registry.py    MODELS, ModelSpec, model_input_spec
    published.py   the published networks (pytorchvideo create_* with the hub configurations)
    tiny.py        *_tiny CPU variants
    pitfalls.py    pytorchvideo 0.1.5 fixes, applied once to every build; fresh_input
    parts.py       model_parts: stem, stage1 ... stageN, head (fine-tuning's part names)
    swap.py        pool sites and swapping
    factory.py     build_model
    pretrained.py  load_checkpoint
"""
from . import published as _published  # noqa: F401  (registers the published models)
from . import tiny as _tiny  # noqa: F401  (registers the CPU variants)
from .factory import build_model, keeps_original_pools
from .pretrained import LoadReport, extract_state_dict, load_checkpoint
from .parts import model_parts
from .pitfalls import fix_pytorchvideo, fresh_input
from .registry import MODELS, ModelSpec, get_spec, list_models, model_input_spec
from .swap import SITES, find_pool_sites, pool_input_channels, pools_by_site, swap_pools

__all__ = ["build_model", "keeps_original_pools", "MODELS", "ModelSpec", "get_spec",
           "list_models", "model_input_spec", "load_checkpoint", "LoadReport",
           "extract_state_dict", "fix_pytorchvideo", "fresh_input", "model_parts", "SITES",
           "find_pool_sites", "pools_by_site", "swap_pools", "pool_input_channels"]
