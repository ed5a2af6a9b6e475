"""Read a ``.npz`` archive received from elsewhere: member by member, within stated limits.

``np.load`` trusts the archive: it reads any member, and allocates whatever shape a
``.npy`` header declares. :func:`read_archive` first checks the zip directory against an
allow-list of members and byte budgets, then each member's ``.npy`` header against a
:class:`MemberRule` (dtype, dimensions, bytes), and only then reads the array. Every
refusal is one line of :class:`~linkage.errors.EncodingError` naming the file, the member
and the rule broken; array contents are never echoed.
"""

from __future__ import annotations

import math
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from tokenize import TokenError
from typing import IO

import numpy as np
from numpy.lib import format as npy

from linkage.errors import EncodingError

MAX_FILE_BYTES = 16 * 2**30  #: total uncompressed bytes; a million records is about 300 MB
MAX_MEMBERS = 4096  #: zip entries in one archive
MAX_HEADER_CHARS = 10_000  #: a ``.npy`` header (numpy's own limit; ours are ~128)
REEXPORT = "ask the sender to re-export it with `linkage encode`"
_TAIL = re.compile(r"[a-z][a-z0-9_]*")
_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
           MemoryError, NotImplementedError, struct.error, zlib.error, OverflowError,
           RecursionError)
# what numpy's parser of an untrusted .npy header (ast.literal_eval) may also raise
_HEADER_ERRORS = (*_ERRORS, SyntaxError, TypeError, TokenError, Warning)


@dataclass(frozen=True)
class MemberRule:
    """What one member may hold.

    ``kind``: numpy dtype kind, ``"u"`` (unsigned int), ``"b"`` (bool) or ``"U"`` (str).
    ``max_shape``: one upper bound per dimension; its length is the required ``ndim``.
    ``itemsize``: for ``"u"``/``"b"``, the exact bytes per element (8 for uint64).
    ``max_chars``: for ``"U"``, the most characters per string (4 bytes each).
    ``max_bytes``: the most data bytes the member may hold.
    """

    kind: str
    max_shape: tuple[int, ...]
    itemsize: int = 0
    max_chars: int = 0
    max_bytes: int = MAX_FILE_BYTES

    def __post_init__(self) -> None:
        if self.kind not in ("u", "b", "U") or (self.kind == "U") != (self.itemsize == 0):
            raise ValueError(f"bad MemberRule: kind {self.kind!r}, itemsize {self.itemsize}")

    def describe(self) -> str:
        """The dtype this rule wants, in words: ``"uint64"``, ``"str of <= 64 chars"``."""
        if self.kind == "U":
            return f"str of at most {self.max_chars} characters"
        return np.dtype(f"{self.kind}{self.itemsize}").name

    def problem(self, dtype: np.dtype, shape: tuple[int, ...]) -> str | None:
        """The rule a ``.npy`` header's dtype and shape break, or None if they fit."""
        plain = not (dtype.hasobject or dtype.names or dtype.subdtype) and dtype.isnative
        if not plain or dtype.kind != self.kind or dtype.itemsize == 0 or (
                dtype.itemsize != self.itemsize if self.kind != "U"
                else dtype.itemsize > 4 * self.max_chars):
            return f"dtype must be {self.describe()}, not {dtype.str}"
        if len(shape) != len(self.max_shape):
            return f"must have {len(self.max_shape)} dimension(s), not {len(shape)}"
        for axis, (size, bound) in enumerate(zip(shape, self.max_shape, strict=True)):
            if not 0 <= size <= bound:
                return f"dimension {axis} must be between 0 and {bound}"
        if math.prod(shape) * dtype.itemsize > self.max_bytes:
            return f"declares more than its limit of {self.max_bytes} bytes"
        return None


@dataclass(frozen=True)
class _Where:
    source: Path
    what: str
    fix: str

    def fail(self, member: str | None, problem: str) -> EncodingError:
        named = f" member '{member}'" if member else ""
        return EncodingError(f"{self.source}: {self.what}{named}: {problem}; {self.fix}.")


class _Counted:
    """A read-only stream that counts the bytes read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.count = raw, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


def read_archive(path: str | os.PathLike[str], *, members: Mapping[str, MemberRule],
                 optional_prefixes: Mapping[str, MemberRule] | None = None,
                 max_file_bytes: int = MAX_FILE_BYTES, what: str = "encoding file",
                 fix: str = REEXPORT) -> dict[str, np.ndarray]:
    """Read the ``.npz`` at ``path``: every name in ``members`` (required) and any member
    named ``prefix + [a-z][a-z0-9_]*`` for a prefix in ``optional_prefixes``; nothing else
    (so no directories, no ``/`` or ``..``), stored or deflated, unencrypted, each once.

    Returns member name (without ``.npy``) -> array, each of the dtype and within the shape
    its rule allows. Raises :class:`EncodingError` on anything else, never another error.
    """
    where = _Where(Path(path), what, fix)
    _check_file(where, max_file_bytes)
    try:
        with zipfile.ZipFile(where.source) as archive:
            plan = _plan(where, archive.infolist(), members, optional_prefixes or {},
                         max_file_bytes)
            return {name: _read_member(where, archive, name, info, rule)
                    for name, (info, rule) in plan.items()}
    except EncodingError:
        raise
    except _ERRORS as error:
        raise where.fail(None, f"not a readable zip archive ({type(error).__name__})") from None


def check_rows(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
               names: Iterable[str], *, prefixes: Iterable[str] = (),
               what: str = "encoding file", fix: str = REEXPORT) -> int:
    """Return ``n``, the record count shared by the first dimension of the members in
    ``names`` and of those whose name starts with one of ``prefixes``; refuse a mismatch
    or ``n == 0``."""
    where = _Where(Path(path), what, fix)
    starts = tuple(prefixes)
    aligned = [*names, *(n for n in arrays if starts and n.startswith(starts))]
    first: str | None = None
    for name in aligned:
        if name not in arrays or arrays[name].ndim == 0:
            raise where.fail(name, "is missing or has no record dimension")
        if first is None:
            first = name
        elif len(arrays[name]) != len(arrays[first]):
            raise where.fail(name, f"has {len(arrays[name])} rows but '{first}' has "
                                   f"{len(arrays[first])}")
    if first is None or len(arrays[first]) == 0:
        raise where.fail(first, "holds no records")
    return len(arrays[first])


def _check_file(where: _Where, max_file_bytes: int) -> None:
    try:
        info = where.source.stat()
    except (OSError, ValueError):
        raise where.fail(None, "not found or not readable") from None
    if stat.S_ISDIR(info.st_mode):
        raise where.fail(None, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise where.fail(None, "is not a regular file")
    if info.st_size == 0:
        raise where.fail(None, "is empty")
    if info.st_size > max_file_bytes:
        raise where.fail(None, f"is larger than the limit of {max_file_bytes} bytes")


def _plan(where: _Where, infos: list[zipfile.ZipInfo], members: Mapping[str, MemberRule],
          prefixes: Mapping[str, MemberRule], max_file_bytes: int,
          ) -> dict[str, tuple[zipfile.ZipInfo, MemberRule]]:
    """Match the zip directory to the rules, before reading any member."""
    if len(infos) > MAX_MEMBERS:
        raise where.fail(None, f"holds more than {MAX_MEMBERS} members")
    plan: dict[str, tuple[zipfile.ZipInfo, MemberRule]] = {}
    for info in infos:
        shown = ascii(info.filename)[1:-1][:80]
        name = info.filename.removesuffix(".npy")
        rule = members.get(name) or next((r for p, r in prefixes.items() if name.startswith(p)
                                          and _TAIL.fullmatch(name[len(p):])), None)
        if rule is None or not info.filename.endswith(".npy"):
            raise where.fail(shown, "is not an allowed member")
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                              zipfile.ZIP_DEFLATED):
            raise where.fail(name, "is encrypted or uses an unsupported compression")
        if name in plan:
            raise where.fail(name, "appears twice")
        if info.file_size > rule.max_bytes + MAX_HEADER_CHARS + 16:
            raise where.fail(name, f"is larger than its limit of {rule.max_bytes} bytes")
        plan[name] = (info, rule)
    if sum(info.file_size for info, _ in plan.values()) > max_file_bytes:
        raise where.fail(None, f"unpacks to more than {max_file_bytes} bytes")
    absent = [name for name in members if name not in plan]
    if absent:
        raise where.fail(absent[0], "is missing")
    return plan


def _read_member(where: _Where, archive: zipfile.ZipFile, name: str, info: zipfile.ZipInfo,
                 rule: MemberRule) -> np.ndarray:
    """Check the member's ``.npy`` header against ``rule``, then read its array."""
    try:
        with warnings.catch_warnings(), archive.open(info) as raw:
            warnings.simplefilter("error")  # e.g. numpy's "created on Python 2" header repair
            stream = _Counted(raw)
            version = npy.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise where.fail(name, f".npy format version {version} is not supported")
            read_header = (npy.read_array_header_1_0 if version == (1, 0)
                           else npy.read_array_header_2_0)
            shape, _, dtype = read_header(stream, max_header_size=MAX_HEADER_CHARS)
            problem = rule.problem(dtype, shape)
            if problem:
                raise where.fail(name, problem)
            if stream.count + math.prod(shape) * dtype.itemsize != info.file_size:
                raise where.fail(name, "holds a different number of bytes than it declares")
        with archive.open(info) as raw:
            array = npy.read_array(raw, allow_pickle=False, max_header_size=MAX_HEADER_CHARS)
            trailing = raw.read(1)  # reads to the end, so zipfile checks the CRC
    except EncodingError:
        raise
    except _HEADER_ERRORS as error:
        raise where.fail(name, f"is truncated or corrupt ({type(error).__name__})") from None
    if trailing or array.dtype != dtype or array.shape != shape:
        raise where.fail(name, "did not read back as its header declares")
    if dtype.kind == "b" and array.size and array.view(np.uint8).max() > 1:
        raise where.fail(name, "holds bool bytes other than 0 and 1")
    return array
