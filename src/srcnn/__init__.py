"""srcnn: the SRCNN super-resolution network (Dong et al., ECCV 2014 / TPAMI 2015) and its successor
FSRCNN (ECCV 2016), with the papers' exact evaluation protocol.

    >>> import srcnn
    >>> big = srcnn.upscale(Image.open("photo.png"), scale=3)
"""

from .errors import SRCNNError

__all__ = ["upscale", "Upscaler", "SRCNN", "SRCNNConfig", "FSRCNN", "FSRCNNConfig", "Weights", "load_model",
           "save_model", "SRCNNError"]
__version__ = "0.1.0"

# The public names load on first use, so that `import srcnn.apps.cli` (and `srcnn --help`) does not import torch.
_LAZY = {"upscale": "inference", "Upscaler": "inference", "SRCNN": "models", "SRCNNConfig": "models",
         "FSRCNN": "models", "FSRCNNConfig": "models",
         "Weights": "models.weights", "load_model": "models.weights", "save_model": "models.weights"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'srcnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
