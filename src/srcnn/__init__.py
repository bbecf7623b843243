"""srcnn: the SRCNN super-resolution network (Dong et al., ECCV 2014 / TPAMI 2015), with the
papers' exact evaluation protocol.

    >>> import srcnn
    >>> big = srcnn.upscale(Image.open("photo.png"), scale=3)
"""

from .errors import SRCNNError
from .infer import Upscaler, upscale
from .models import SRCNN, SRCNNConfig
from .weights import Weights, load_model, save_model

__all__ = ["upscale", "Upscaler", "SRCNN", "SRCNNConfig", "Weights", "load_model", "save_model", "SRCNNError"]
__version__ = "0.1.0"
