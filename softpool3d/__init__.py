"""softpool3d: spatio-temporal SoftPool (Stergiou et al., ICCV 2021) for PyTorch, and a video
action-recognition benchmark suite built around it."""
from .ops import (HAS_EXTENSION, adaptive_soft_pool1d, adaptive_soft_pool2d, adaptive_soft_pool3d,
                  soft_pool1d, soft_pool2d, soft_pool3d)
from .nn import (AdaptiveSoftPool1d, AdaptiveSoftPool2d, AdaptiveSoftPool3d, SoftPool1d, SoftPool2d,
                 SoftPool3d)
from .adapool import (AdaPool1d, AdaPool2d, AdaPool3d, AdaptiveAdaPool1d, AdaptiveAdaPool2d,
                      AdaptiveAdaPool3d, AdaptiveEDSCWPool1d, AdaptiveEDSCWPool2d,
                      AdaptiveEDSCWPool3d, EDSCWPool1d, EDSCWPool2d, EDSCWPool3d, ada_pool1d,
                      ada_pool2d, ada_pool3d, adaptive_ada_pool1d, adaptive_ada_pool2d,
                      adaptive_ada_pool3d, adaptive_edscw_pool1d, adaptive_edscw_pool2d,
                      adaptive_edscw_pool3d, edscw_pool1d, edscw_pool2d, edscw_pool3d)

__version__ = "0.1.0"

__all__ = ["soft_pool1d", "soft_pool2d", "soft_pool3d", "adaptive_soft_pool1d",
           "adaptive_soft_pool2d", "adaptive_soft_pool3d", "SoftPool1d", "SoftPool2d", "SoftPool3d",
           "AdaptiveSoftPool1d", "AdaptiveSoftPool2d", "AdaptiveSoftPool3d", "HAS_EXTENSION",
           "ada_pool1d", "ada_pool2d", "ada_pool3d", "edscw_pool1d", "edscw_pool2d",
           "edscw_pool3d", "adaptive_ada_pool1d", "adaptive_ada_pool2d", "adaptive_ada_pool3d",
           "adaptive_edscw_pool1d", "adaptive_edscw_pool2d", "adaptive_edscw_pool3d",
           "AdaPool1d", "AdaPool2d", "AdaPool3d", "EDSCWPool1d", "EDSCWPool2d", "EDSCWPool3d",
           "AdaptiveAdaPool1d", "AdaptiveAdaPool2d", "AdaptiveAdaPool3d", "AdaptiveEDSCWPool1d",
           "AdaptiveEDSCWPool2d", "AdaptiveEDSCWPool3d"]
