"""Output: results for people at a terminal (terminal) and as files or JSON/CSV text (files).
Rendering only: nothing here computes a figure."""

from sapa.engine.render import files, terminal

__all__ = ["files", "terminal"]
