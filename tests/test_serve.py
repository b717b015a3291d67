"""graphstep serve: the TUI for a browser tab, on 127.0.0.1 only, the URL printed first."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from graphstep import cli
from graphstep.serve import tui_command

GRAPHS = Path(__file__).parent.parent / "graphs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> list[str]:
    """The addresses a TCP port listens on, from the kernel's tables (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                found.append(
                    socket.inet_ntop(socket.AF_INET, raw[::-1]) if len(raw) == 4 else raw.hex()
                )
    return found


def test_serve_prints_the_url_and_a_browser_tab_gets_the_tui() -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graphstep",
            "serve",
            str(GRAPHS / "chain_rule.yaml"),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first == (
            f"graphstep: serving {GRAPHS / 'chain_rule.yaml'} at http://127.0.0.1:{port} "
            "(Ctrl+C stops)\n"
        )

        async def browse() -> tuple[int, str, str]:
            async with aiohttp.ClientSession() as http:
                for _ in range(50):  # the server binds just after it prints
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/") as page:
                            status, html = page.status, await page.text()
                        break
                    except aiohttp.ClientConnectorError:
                        await asyncio.sleep(0.1)
                screen = ""
                async with http.ws_connect(f"ws://127.0.0.1:{port}/ws?width=100&height=30") as ws:

                    async def read() -> None:
                        nonlocal screen
                        async for message in ws:
                            if message.type == aiohttp.WSMsgType.BINARY:
                                screen += message.data.decode("utf-8", "replace")
                            elif message.type == aiohttp.WSMsgType.TEXT:
                                screen += message.data
                            if "chain-rule" in screen and "step 0/7" in screen:
                                return

                    await asyncio.wait_for(read(), 60)
            return status, html, screen

        status, html, screen = asyncio.run(browse())
        assert status == 200 and f"ws://127.0.0.1:{port}/ws" in html
        assert "step 0/7" in screen  # the TUI's status bar, drawn for the tab
        assert listening(port) == ["127.0.0.1"]  # this machine only, not the network
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_served_command_quotes_every_word() -> None:
    command = tui_command("x; rm -rf ~", [("x", "$(reboot)")])
    assert command.endswith("tui --set 'x=$(reboot)' -- 'x; rm -rf ~'")


def test_serve_reports_a_bad_file_and_a_taken_port_before_serving(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["serve", str(GRAPHS / "chain_rule")]) == 2
    assert "no such file" in capsys.readouterr().err
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert cli.main(["serve", str(GRAPHS / "chain_rule.yaml"), "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"graphstep: error: port {port} is in use (hint: choose another: --port {port + 1})\n"
    )
