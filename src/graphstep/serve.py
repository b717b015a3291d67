"""`graphstep serve FILE`: the terminal UI in a browser, for students who will not open a terminal.

textual-serve runs the ordinary TUI (`python -m graphstep tui FILE`) once per
browser tab and relays its screen. It listens on 127.0.0.1 only: the TUI can
write files (`e`, `E`), so it is for the machine it runs on, not the network.
textual-serve starts the command through a shell, so every word of it is
quoted here; the graph is loaded and checked before anything is served.
"""

from __future__ import annotations

import errno
import shlex
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from textual_serve.server import Server

from .errors import GraphstepError
from .spec import source_kind

HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def url(port: int) -> str:
    return f"http://{HOST}:{port}"


def tui_command(target: str, sets: Sequence[tuple[str, str]] = ()) -> str:
    """The shell command for one browser tab: this Python, the TUI, FILE and its --set values."""
    if source_kind(target) == "path":
        target = str(Path(target).resolve())
    words = [sys.executable, "-m", "graphstep", "tui"]
    for name, value in sets:
        words += ["--set", f"{name}={value}"]
    return shlex.join([*words, "--", target])


class _QuietServer(Server):
    """textual-serve without its banner: the command line says where to look."""

    async def on_startup(self, app: object) -> None:
        return None


def check_port(port: int) -> None:
    """Refuse a port another program holds, before the server would fail on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as e:
            what = "in use" if e.errno == errno.EADDRINUSE else f"not available ({e.strerror})"
            raise GraphstepError(
                f"port {port} is {what}", hint=f"choose another: --port {port + 1}"
            ) from None


def serve(
    target: str,
    sets: Sequence[tuple[str, str]] = (),
    port: int = DEFAULT_PORT,
    ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve the TUI of `target` at url(port) until Ctrl+C; `ready(url)` once the port is ours."""
    check_port(port)
    ready(url(port))
    _QuietServer(tui_command(target, sets), host=HOST, port=port, title="graphstep").serve()
