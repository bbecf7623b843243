"""Choices shared by the API and the CLI, kept free of torch so that building the parser
(``srcnn --help``) stays fast."""

from __future__ import annotations

__all__ = ["SCALES", "METHODS", "PRECISIONS"]

SCALES = (2, 3, 4)  # the up-scaling factors the shipped models and the protocol cover
METHODS = ("srcnn", "bicubic", "sparse-coding")
PRECISIONS = ("auto", "bf16", "fp32")
