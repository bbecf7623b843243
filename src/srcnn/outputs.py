"""Where an input's output goes: one naming rule for every front end."""

from __future__ import annotations

from pathlib import PurePath

__all__ = ["output_name"]


def output_name(rel: PurePath, ext: str = "auto") -> PurePath:
    """The output's path, relative to the output folder, for an input's relative path ``rel``:
    ``ext='auto'`` keeps the input's extension, otherwise ``ext`` (e.g. 'png' or '.png') replaces it."""
    rel = PurePath(rel)
    if ext == "auto":
        return rel
    return rel.with_suffix(ext if ext.startswith(".") else f".{ext}")
