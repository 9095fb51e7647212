"""softpool3d: spatio-temporal SoftPool (Stergiou et al., ICCV 2021) for PyTorch, and a video
action-recognition benchmark suite built around it."""
from .ops import (HAS_EXTENSION, adaptive_soft_pool1d, adaptive_soft_pool2d, adaptive_soft_pool3d,
                  soft_pool1d, soft_pool2d, soft_pool3d)
from .nn import (AdaptiveSoftPool1d, AdaptiveSoftPool2d, AdaptiveSoftPool3d, SoftPool1d, SoftPool2d,
                 SoftPool3d)

__version__ = "0.1.0"

__all__ = ["soft_pool1d", "soft_pool2d", "soft_pool3d", "adaptive_soft_pool1d",
           "adaptive_soft_pool2d", "adaptive_soft_pool3d", "SoftPool1d", "SoftPool2d", "SoftPool3d",
           "AdaptiveSoftPool1d", "AdaptiveSoftPool2d", "AdaptiveSoftPool3d", "HAS_EXTENSION"]
