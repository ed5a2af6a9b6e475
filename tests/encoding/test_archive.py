"""read_archive: the safe reader for .npz files received from elsewhere (issue #14)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.encoding import BloomFilterEncoder, ProjectKey, default_schema, write_encodings
from linkage.encoding.archive import MemberRule, check_rows, read_archive
from linkage.errors import EncodingError
from linkage.synth import Cohort

ROWS = 50_000_000
MEMBERS = {
    "header": MemberRule("u", (2**20,), itemsize=1, max_bytes=2**20),
    "record_ids": MemberRule("U", (ROWS,), max_chars=256),
    "record_filters": MemberRule("u", (ROWS, 1024), itemsize=8),
    "missing": MemberRule("b", (ROWS, 1024), itemsize=1),
    "blocking_keys": MemberRule("u", (ROWS, 1024), itemsize=8),
}
PREFIXES = {"field__": MemberRule("u", (ROWS, 1024), itemsize=8)}
ROW_NAMES = ("record_ids", "record_filters", "missing", "blocking_keys")


def _read(path: Path) -> dict[str, np.ndarray]:
    return read_archive(path, members=MEMBERS, optional_prefixes=PREFIXES)


def _arrays(n: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "header": np.frombuffer(json.dumps({"records": n}).encode(), dtype=np.uint8),
        "record_ids": np.array([f"r{i}" for i in range(n)], dtype="<U4"),
        "record_filters": rng.integers(0, 2**63, (n, 16), dtype=np.uint64),
        "missing": np.asfortranarray(rng.random((n, 2)) < 0.5),
        "blocking_keys": rng.integers(0, 2**63, (n, 1), dtype=np.uint64),
        "field__given_name": rng.integers(0, 2**63, (n, 4), dtype=np.uint64),
        "field__dob": rng.integers(0, 2**63, (n, 4), dtype=np.uint64),
    }


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=array.dtype.hasobject)
    return buffer.getvalue()


def _header_only(shape: tuple[int, ...], descr: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _zip(path: Path, replace: dict[str, bytes | None], n: int = 3,
         compression: int = zipfile.ZIP_STORED) -> Path:
    """A valid archive of ``n`` records with members replaced (bytes) or dropped (None)."""
    entries = {f"{name}.npy": _npy(array) for name, array in _arrays(n).items()}
    entries.update({f"{name}.npy" if "." not in name else name: data
                    for name, data in replace.items()})
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            if data is not None:
                archive.writestr(name, data)
    return path


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(EncodingError) as caught:
        _read(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message and "linkage encode" in message
    for word in words:
        assert word in message
    return message


def test_round_trip_of_np_savez(tmp_path: Path) -> None:
    arrays = _arrays()
    np.savez(tmp_path / "ok.npz", allow_pickle=False, **arrays)
    back = _read(tmp_path / "ok.npz")
    assert back.keys() == arrays.keys()
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and np.array_equal(back[name], array)
    assert check_rows(tmp_path / "ok.npz", back, ROW_NAMES, prefixes=["field__"]) == 3


def test_round_trip_of_compressed_archive(tmp_path: Path) -> None:
    path = _zip(tmp_path / "z.npz", {}, compression=zipfile.ZIP_DEFLATED)
    assert np.array_equal(_read(path)["record_ids"], _arrays()["record_ids"])


def test_reads_what_write_encodings_writes(tmp_path: Path, small_cohort: Cohort) -> None:
    enc = BloomFilterEncoder(default_schema(), ProjectKey(b"\x7e" * 32)).encode(
        small_cohort.extracts["education"].head(50), {"nhs_number": None}, partner="education")
    path = write_encodings(tmp_path / "e", enc, schema=default_schema(),
                           agreement_id="first-1000-days", agreement_version="1.0")
    back = _read(path)
    assert np.array_equal(back["record_filters"], enc.record_filters)
    assert {f"field__{name}" for name in enc.field_names} <= back.keys()
    assert check_rows(path, back, ROW_NAMES, prefixes=["field__"]) == 50


@pytest.mark.parametrize("name", ["extra", "field__Given", "field__", "sub/record_ids",
                                  "../record_ids", "record_ids.txt"])
def test_member_not_allowed(tmp_path: Path, name: str) -> None:
    entry = name if name.endswith(".txt") else f"{name}.npy"
    _refused(_zip(tmp_path / "x.npz", {entry: _npy(np.zeros(3, np.uint64))}),
             name.split("/")[-1].removesuffix(".txt"), "not an allowed member")


def test_member_over_its_byte_budget_is_refused_unread(tmp_path: Path) -> None:
    big = _npy(np.zeros(2**21, np.uint8))  # 2 MiB header; deflates to a few KiB
    path = _zip(tmp_path / "big.npz", {"header": big}, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2**20
    _refused(path, "'header'", "larger than its limit")


def test_total_size_over_file_limit(tmp_path: Path) -> None:
    zeros = _npy(np.zeros((3, 1024), np.uint64))  # 24 KiB that deflates to very little
    path = _zip(tmp_path / "t.npz", {"field__dob": zeros}, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 20_000
    with pytest.raises(EncodingError, match=r"t\.npz: encoding file: unpacks to more than"):
        read_archive(path, members=MEMBERS, optional_prefixes=PREFIXES, max_file_bytes=20_000)


@pytest.mark.parametrize(("shape", "rule"), [((10**12, 16), "dimension 0"),
                                             ((3, 10**9), "dimension 1"),
                                             ((1000, 16), "different number of bytes"),
                                             ((3,), "2 dimension"), ((3, -1), "dimension 1")])
def test_declared_shape_is_checked_before_reading(tmp_path: Path, shape, rule: str) -> None:
    path = _zip(tmp_path / "s.npz", {"record_filters": _header_only(shape, "<u8")})
    _refused(path, "'record_filters'", rule)


@pytest.mark.parametrize(("member", "array"), [
    ("record_filters", np.zeros((3, 16), np.float64)),
    ("record_filters", np.zeros((3, 16), ">u8")),
    ("record_filters", np.zeros((3, 16), np.uint32)),
    ("missing", np.zeros((3, 2), np.uint8)),
    ("record_ids", np.array(["x" * 20000, "a", "b"])),
    ("record_ids", np.array([{"a": 1}, None, 3], dtype=object)),
    ("header", np.zeros(3, [("a", "<u8")])),
])
def test_wrong_dtype(tmp_path: Path, member: str, array: np.ndarray) -> None:
    _refused(_zip(tmp_path / "d.npz", {member: _npy(array)}), f"'{member}'", "dtype must be")


def test_object_dtype_header_without_data(tmp_path: Path) -> None:
    path = _zip(tmp_path / "o.npz", {"record_ids": _header_only((3,), "|O")})
    _refused(path, "'record_ids'", "dtype must be str")


@pytest.mark.parametrize("member", ["record_ids", "missing"])
def test_missing_member(tmp_path: Path, member: str) -> None:
    _refused(_zip(tmp_path / "m.npz", {member: None}), f"'{member}'", "is missing")


def test_duplicate_member(tmp_path: Path) -> None:
    path = _zip(tmp_path / "dup.npz", {})
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("missing.npy", _npy(np.zeros((3, 2), bool)))
    _refused(path, "'missing'", "twice")


def test_bool_bytes_other_than_0_and_1(tmp_path: Path) -> None:
    raw = bytearray(_npy(np.zeros((3, 2), bool)))
    raw[-1] = 7
    _refused(_zip(tmp_path / "b.npz", {"missing": bytes(raw)}), "'missing'", "0 and 1")


def test_truncated_member_data(tmp_path: Path) -> None:
    data = _npy(_arrays()["record_filters"])[:-8]
    _refused(_zip(tmp_path / "tr.npz", {"record_filters": data}), "'record_filters'",
             "different number of bytes")


def test_corrupt_member_data_fails_its_crc(tmp_path: Path) -> None:
    path = _zip(tmp_path / "crc.npz", {})
    raw = bytearray(path.read_bytes())
    at = raw.index("r2".encode("utf-32-le")) + 4  # inside record_ids data, stored as is
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    _refused(path, "'record_ids'", "corrupt")


def test_row_counts_must_agree(tmp_path: Path) -> None:
    arrays = _arrays()
    arrays["field__dob"] = arrays["field__dob"][:2]
    with pytest.raises(EncodingError, match=r"'field__dob': has 2 rows but 'record_ids' has 3"):
        check_rows(tmp_path / "f.npz", arrays, ROW_NAMES, prefixes=["field__"])


def test_zero_rows(tmp_path: Path) -> None:
    path = _zip(tmp_path / "zero.npz", {}, n=0)
    arrays = _read(path)
    with pytest.raises(EncodingError, match=r"zero\.npz.*'record_ids'.*holds no records"):
        check_rows(path, arrays, ROW_NAMES, prefixes=["field__"])


@pytest.mark.parametrize(("make", "rule"), [
    (lambda p: p.write_text("record_id,given_name\nr1,Ann\n"), "not a readable zip"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: None, "not found"),
    (lambda p: p.write_bytes(_zip(p.with_suffix(".ok"), {}).read_bytes()[:-30]),
     "not a readable zip"),
])
def test_not_an_archive(tmp_path: Path, make, rule: str) -> None:
    path = tmp_path / "in.npz"
    make(path)
    _refused(path, rule)


def _mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    raw = bytearray(data)
    for kind, where, extra in edits:
        at = int(where * len(raw))
        if kind == "flip":
            raw[at] ^= extra[0]
        elif kind == "cut":
            del raw[at:]
        else:
            raw[at:at] = extra
        if not raw:
            break
    return bytes(raw)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]),
                           st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
                 min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inside=st.booleans(), member=st.sampled_from(sorted(_arrays(2))), edits=EDITS)
def test_mutated_archive_only_raises_encoding_error(tmp_path_factory, inside: bool,
                                                    member: str, edits) -> None:
    """Bytes flipped, cut or inserted in the zip file, or inside one member's .npy (then
    zipped again with a valid CRC, so the .npy header parser sees the damage)."""
    path = tmp_path_factory.mktemp("fuzz") / "f.npz"
    if inside:
        _zip(path, {member: _mutate(_npy(_arrays(2)[member]), edits)}, n=2)
    else:
        np.savez(path, allow_pickle=False, **_arrays(2))
        path.write_bytes(_mutate(path.read_bytes(), edits))
    try:
        arrays = _read(path)
    except EncodingError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    assert arrays.keys() >= MEMBERS.keys()
    assert sum(array.nbytes for array in arrays.values()) <= path.stat().st_size
