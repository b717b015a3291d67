"""Files written whole or not at all: staged beside their targets, then moved into place.

Only a regular file is replaced. A symbolic link is followed (its target is
replaced, the link stays); a device such as /dev/null, a fifo or a directory
is refused, since renaming a file over it would destroy it. Every target is
checked before anything is written, and errors name the target the user gave.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import GraphstepError

TEMPORARY = ".graphstep-"  # short: a temporary beside a 250-byte name stays within the limit


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """A file system error as a GraphstepError that names the path."""
    try:
        yield
    except (OSError, ValueError) as e:  # ValueError: a NUL in a name given from Python
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise GraphstepError(f"cannot write '{path}': {reason}") from None


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, then os.replace."""
    write_all([(path, data)])


def write_all(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write files together: every target checked, then every one staged, then all moved
    into place (0666 less the umask, as open() makes them); a refusal writes none."""
    targets = [_replaceable(path) for path, _ in files]
    staged: list[str] = []
    try:
        for (path, data), target in zip(files, targets, strict=True):
            with writing(path):
                fd, tmp = tempfile.mkstemp(prefix=TEMPORARY, suffix=".tmp", dir=target.parent)
                staged.append(tmp)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(tmp, 0o666 & ~umask())
        for (path, _), target, tmp in zip(files, targets, staged, strict=True):
            with writing(path):
                os.replace(tmp, target)
    finally:
        for tmp in staged:
            Path(tmp).unlink(missing_ok=True)


def _replaceable(path: Path) -> Path:
    """The file to replace for `path`: a link's target; refused unless a regular file."""
    with writing(path):
        target = path.resolve() if path.is_symlink() else path
        if target.exists() and not target.is_file():
            raise GraphstepError(
                f"'{path}' is not a regular file", hint="give the name of a file to write"
            )
    return target
