"""``srcnn serve``: a web page and an HTTP API over the same upscaling path as ``srcnn upscale``.

Needs the ``serve`` extra (``pip install 'srcnn[serve]'``): FastAPI, uvicorn and python-multipart.
``create_app`` is imported from :mod:`srcnn.apps.server.app` so that importing this package stays cheap.
"""


def create_app(*args, **kwargs):
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
