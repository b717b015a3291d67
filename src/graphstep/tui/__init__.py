"""The terminal UI: a Textual app that steps through a graph node by node.

Only this package imports Textual. `run_tui(graph)` is its one entry point.
"""

from __future__ import annotations

from .app import GraphstepApp, run_tui

__all__ = ["GraphstepApp", "run_tui"]
