"""Writing files: whole or not at all, only where asked, and every failure one line.

Targets that are not regular files are refused (a rename over /dev/null would
replace the device), links are followed, temporary names stay short, a full
disk is an error message, and SIGTERM cleans up like Ctrl-C.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from graphstep import cli
from graphstep.render import svg

GRAPHS = Path(__file__).parent.parent / "graphs"
CHAIN_RULE = str(GRAPHS / "chain_rule.yaml")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str, *words: str) -> None:
    assert err.startswith("graphstep: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


def test_a_device_or_fifo_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe.svg"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path):
        code, _, err = run(["export", CHAIN_RULE, "-o", str(target), "--format", "svg"], capsys)
        assert code == 2
        one_error(err, f"'{target}' is not a regular file")
    assert fifo.is_fifo()
    code, _, err = run(["export", CHAIN_RULE, "--html", "/dev/null"], capsys)
    assert code == 2
    one_error(err, "'/dev/null' is not a regular file")
    assert Path("/dev/null").is_char_device()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.svg"]  # no temporary left


def test_a_symbolic_link_is_followed_and_stays_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real.svg"
    real.write_text("old")
    link = tmp_path / "link.svg"
    link.symlink_to(real)
    code, _, err = run(["export", CHAIN_RULE, "-o", str(link)], capsys)
    assert (code, err) == (0, "")
    assert link.is_symlink() and real.read_text().startswith("<?xml")


def test_a_long_output_name_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "s" * 246 + ".svg"  # 250 bytes: the file-name limit is 255
    code, _, err = run(["export", CHAIN_RULE, "-o", str(tmp_path / name)], capsys)
    assert (code, err) == (0, "")
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_full_disk_is_one_line_and_the_old_file_survives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "page.html"
    out.write_text("old page")

    def full(fd: int, mode: str) -> object:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(svg.os, "fdopen", full)
    for argv in (["--html", str(out)], ["-o", str(out), "--format", "svg"]):
        code, _, err = run(["export", CHAIN_RULE, *argv], capsys)
        assert code == 2
        one_error(err, f"cannot write '{out}': No space left on device")
    assert out.read_text() == "old page"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_sigterm_during_all_steps_leaves_no_staging_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[int] = []
    draw = svg.Pictures.svg

    def draw_then_terminate(self: svg.Pictures, *args: object, **kwargs: object) -> str:
        drawn.append(1)
        if len(drawn) == 6:  # 3 size probes, then half-way: the staging directory holds two files
            assert any(p.name.startswith(".graphstep-") for p in tmp_path.iterdir())
            os.kill(os.getpid(), signal.SIGTERM)
        return draw(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(svg.Pictures, "svg", draw_then_terminate)
    before = signal.getsignal(signal.SIGTERM)
    code, out, err = run(["export", CHAIN_RULE, "--all-steps", str(tmp_path / "out")], capsys)
    assert (code, out, err) == (143, "", "")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_piping_into_head_ends_quietly(tmp_path: Path) -> None:
    lines = ["inputs: {x: 0.5}", "graph:", "  a0: x * x"]
    lines += [f"  a{i}: tanh(a{i - 1}) + a0" for i in range(1, 3000)]
    graph = tmp_path / "long.yaml"
    graph.write_text("\n".join([*lines, "output: a2999"]) + "\n")
    script = f"{sys.executable} -m graphstep run {graph} --steps | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script], capture_output=True, timeout=300, check=False
    )
    assert done.stdout.startswith(b"1 forward a0: a0 = x * x")
    assert done.stderr == b""
    assert done.returncode == 141
