"""The project key: 256 random bits shared by the data providers only.

Per-purpose keys are derived with HKDF-SHA256 (``cryptography``). The secret bytes live in
a :class:`ProjectKey` whose ``repr`` and ``str`` are redacted, and are never written to any
file but the key file, which is created with mode 0600 and never overwritten.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.errors import KeyFileError
from linkage.files import atomic_output, read_small_file

KEY_BYTES = 32
_HEADER = "linkage-project-key v1"
_INFO_PREFIX = b"linkage-pprl/v1/"


class ProjectKey:
    """A 256-bit project key. Use :meth:`derive` for per-purpose keys; never log it."""

    __slots__ = ("__secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray) or len(secret) != KEY_BYTES:
            raise KeyFileError(f"A project key must be exactly {KEY_BYTES} bytes.")
        self.__secret = bytes(secret)

    @classmethod
    def generate(cls) -> ProjectKey:
        """A fresh key from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(KEY_BYTES))

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """HKDF-SHA256 of the key for ``purpose`` (e.g. ``"field:given_name"``)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                    info=_INFO_PREFIX + purpose.encode("utf-8"))
        return hkdf.derive(self.__secret)

    def __repr__(self) -> str:
        return "ProjectKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("ProjectKey cannot be pickled: keys never leave the key file.")

    def _secret_for_key_file(self) -> bytes:
        return self.__secret


def write_key_file(key: ProjectKey, path: str | os.PathLike[str]) -> Path:
    """Write ``key`` to a new file with mode 0600; refuse to overwrite an existing file."""
    target = Path(path)
    if target.exists():
        raise KeyFileError(f"{target}: already exists; a key file is never overwritten.")
    encoded = base64.b64encode(key._secret_for_key_file()).decode("ascii")
    with atomic_output(target, file_mode=0o600) as handle:
        handle.write(f"{_HEADER}\n{encoded}\n")
    return target


def read_key_file(path: str | os.PathLike[str]) -> ProjectKey:
    """Read a key file written by :func:`write_key_file`.

    Refuses a file that others can read or write (mode wider than 0600), a missing file,
    and a malformed one; the message never contains the file's content.
    """
    source = Path(path)
    raw = read_small_file(source, what="key file", max_bytes=4096, error=KeyFileError)
    mode = stat.S_IMODE(source.stat().st_mode)
    try:
        lines = raw.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise KeyFileError(f"{source}: key file could not be read (not text).") from None
    if mode & 0o077:
        raise KeyFileError(f"{source}: key file is readable by others (mode {mode:o}); "
                           f"run 'chmod 600 {source}'.")
    if len(lines) != 2 or lines[0] != _HEADER:
        raise KeyFileError(f"{source}: not a linkage key file (expected the "
                           f"'{_HEADER}' header line).")
    try:
        secret = base64.b64decode(lines[1], validate=True)
    except ValueError:
        raise KeyFileError(f"{source}: key line is not valid base64.") from None
    if len(secret) != KEY_BYTES:
        raise KeyFileError(f"{source}: key must be {KEY_BYTES} bytes.")
    return ProjectKey(secret)
