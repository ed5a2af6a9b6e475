"""Writing output files all-or-nothing.

Outputs are written to a temporary sibling and renamed into place, so a failure never
leaves a half-written file behind. Temporaries are named ``.NAME.PID.RANDOM.linkage-tmp``:
one left by a killed process (whose PID is gone) is removed the next time the same output
is written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import stat
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
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
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
    """True when ``a`` and ``b`` name the same file (after links), existing or not. A path
    that cannot be resolved (a symbolic-link loop) is compared as written."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
        return pa.resolve() == pb.resolve()
    except (OSError, RuntimeError):
        return os.path.abspath(pa) == os.path.abspath(pb)


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


def read_small_file(path: str | os.PathLike[str], *, what: str, max_bytes: int,
                    error: type[Exception]) -> bytes:
    """The bytes of a small regular file (a key, a signature key): refuse a missing file, a
    folder, a pipe or device (reading one could block or never end) and anything larger
    than ``max_bytes``, with one ``error`` naming the file, never its content."""
    source = Path(path)
    check_regular_file(source, what=what, error=error, missing_ok=False)
    try:
        with open(source, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as failure:
        raise error(f"{source}: {what} could not be read "
                    f"({failure.strerror or type(failure).__name__}).") from None
    if len(data) > max_bytes:
        raise error(f"{source}: larger than any {what} ({max_bytes:,} bytes at most); is it "
                    f"the right file?")
    return data


def check_regular_file(source: Path, *, what: str, error: type[Exception],
                       missing_ok: bool) -> None:
    """Refuse a path that exists but is not a regular file (folder, pipe, device, socket);
    a missing one is refused unless ``missing_ok``."""
    try:
        info = source.stat()
    except FileNotFoundError:
        if missing_ok:
            return
        raise error(f"{source}: {what} not found.") from None
    except OSError as failure:
        raise error(f"{source}: {what} cannot be opened "
                    f"({failure.strerror or type(failure).__name__}).") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise error(f"{source}: the {what} is {kind}.")
