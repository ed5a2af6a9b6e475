"""Writing output files all-or-nothing.

Outputs are written to a temporary sibling and renamed into place, so a failure never
leaves a half-written file behind. Temporaries are named ``.NAME.PID.RANDOM.linkage-tmp``:
one left by a killed process (whose PID is gone) is removed the next time the same output
is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TEMP_SUFFIX = ".linkage-tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(target: Path) -> int:
    """Remove temporaries of ``target`` left by processes that no longer run; their count."""
    removed = 0
    for candidate in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"):
        pid_text = candidate.name[len(target.name) + 2:].split(".", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed += 1
    return removed


def temporary_sibling(target: Path, *, file_mode: int = 0o600) -> Path:
    """Create an empty temporary file beside ``target`` (mode ``file_mode``) and return it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    name = f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    path = target.parent / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
    os.close(fd)
    os.chmod(path, file_mode)  # whatever the umask
    return path


def fsync_path(path: Path) -> None:
    """Flush a written file to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "w", *,
                  file_mode: int = 0o600) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched. The file is
    created with ``file_mode`` (0600 unless said otherwise) before any byte is written.
    """
    target = Path(path)
    tmp = temporary_sibling(target, file_mode=file_mode)
    try:
        encoding = None if "b" in mode else "utf-8"
        newline = None if "b" in mode else ""
        with open(tmp, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 digest of a file's bytes (for audit entries)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name the same file (after links), existing or not."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def parse_format_json(text: str | bytes, *, format_name: str, version: int, source: object,
                      kind: str, remedy: str, error: type[Exception]) -> dict[str, object]:
    """Parse a JSON document of ours: a mapping whose ``format`` is ``format_name`` and
    whose ``format_version`` is ``version``; otherwise one ``error`` naming ``source`` and
    the ``kind`` of file expected, with the ``remedy``, never quoting the document."""
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise error(f"{source}: not a {kind} (not JSON); {remedy}.") from None
    if not isinstance(data, dict) or data.get("format") != format_name:
        raise error(f"{source}: not a {kind}; {remedy}.")
    if data.get("format_version") != version:
        raise error(f"{source}: this {kind} is in a format version this library does not "
                    f"read (it reads {version}); {remedy}.")
    return data
