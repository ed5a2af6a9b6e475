"""Key files, encoding files, hardening, and the promise that the key never leaks."""

import base64
import json
import logging
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage.bits import packbits_rows, unpackbits_rows
from linkage.encoding import (
    BloomFilterEncoder,
    HardeningSpec,
    ProjectKey,
    default_schema,
    read_encodings,
    read_key_file,
    write_encodings,
    write_key_file,
)
from linkage.encoding.hardening import balance, blip, blip_flip_probability, diffuse, xor_fold
from linkage.errors import EncodingError, InputDataError, KeyFileError
from linkage.synth import Cohort

SECRET = bytes.fromhex("7e" * 16 + "c3" * 16)


def _forms(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), secret.hex().upper().encode(),
            base64.b64encode(secret), base64.urlsafe_b64encode(secret)]


def test_keygen_file_mode_and_no_overwrite(tmp_path) -> None:
    path = write_key_file(ProjectKey.generate(), tmp_path / "k.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(KeyFileError, match="never overwritten"):
        write_key_file(ProjectKey.generate(), path)
    assert isinstance(read_key_file(path), ProjectKey)


def test_key_file_refused_when_open_to_others(tmp_path) -> None:
    path = write_key_file(ProjectKey.generate(), tmp_path / "k.key")
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_key_file(path)


@pytest.mark.parametrize("content", ["", "linkage-project-key v1\nnot base64!!\n",
                                     "linkage-project-key v1\nAAAA\n", "something else\n"])
def test_malformed_key_files(tmp_path, content: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        read_key_file(path)


def test_key_never_printed() -> None:
    key = ProjectKey(SECRET)
    text = repr(key) + str(key) + repr(BloomFilterEncoder(default_schema(), key))
    assert all(form.decode("latin-1") not in text for form in _forms(SECRET))
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(key)


def test_key_absent_from_outputs_logs_and_errors(tmp_path, small_cohort: Cohort,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = ProjectKey(SECRET)
    encoder = BloomFilterEncoder(default_schema(), key)
    enc = encoder.encode(small_cohort.extracts["health"].head(300))
    path = write_encodings(tmp_path / "h.npz", enc.named("health"), schema=default_schema(),
                           agreement_id="a", agreement_version="1")
    blob = path.read_bytes()
    messages = []
    for bad in (small_cohort.extracts["health"].drop(columns=["postcode"]),
                small_cohort.extracts["health"].head(0)):
        with pytest.raises(InputDataError) as info:
            encoder.encode(bad)
        messages.append(str(info.value))
    derived = [key.derive(f"field:{f}") for f in enc.field_names]
    for form in _forms(SECRET) + derived:
        assert form not in blob
        assert form.decode("latin-1") not in "".join(messages) + caplog.text


def test_encoding_file_round_trip_and_refusals(tmp_path, small_cohort: Cohort) -> None:
    enc = BloomFilterEncoder(default_schema(), ProjectKey(SECRET)).encode(
        small_cohort.extracts["education"].head(200), {"nhs_number": None})
    assert enc.missing[:, enc.field_names.index("nhs_number")].all()
    path = write_encodings(tmp_path / "e", enc.named("education"), schema=default_schema(),
                           agreement_id="first-1000-days", agreement_version="1.0")
    assert path.suffix == ".npz" and not list(tmp_path.glob("*.tmp"))
    back = read_encodings(path)
    assert back.partner == "education" and back.agreement_version == "1.0"
    assert np.array_equal(back.encodings.record_filters, enc.record_filters)
    assert list(back.encodings.record_ids) == list(enc.record_ids)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(EncodingError, match="not a readable zip archive"):
        read_encodings(tmp_path / "junk.npz")
    arrays = dict(np.load(path))
    header = json.loads(arrays["header"].tobytes())
    header["schema"]["fields"][0]["bits_per_token"] = 30
    tampered = dict(arrays, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    np.savez(tmp_path / "tampered.npz", **tampered)
    with pytest.raises(EncodingError, match="altered"):
        read_encodings(tmp_path / "tampered.npz")
    arrays["record_filters"] = arrays["record_filters"][:10]
    np.savez(tmp_path / "cut.npz", **arrays)
    with pytest.raises(EncodingError, match="record_filters"):
        read_encodings(tmp_path / "cut.npz")


def test_bad_record_ids_named_by_row() -> None:
    frame = pd.DataFrame({"record_id": ["a", "b", "a"], "given_name": ["x", "y", "z"],
                          "family_name": "f", "sex": "M", "date_of_birth": "2020-01-01",
                          "postcode": "", "nhs_number": ""})
    with pytest.raises(InputDataError, match="row 4: column 'record_id' repeats"):
        BloomFilterEncoder(default_schema(), ProjectKey(SECRET)).encode(frame)


def test_packing_round_trip() -> None:
    bits = (np.random.default_rng(1).random((5, 192)) < 0.3).astype(np.uint8)
    packed = packbits_rows(bits)
    assert packed.shape == (5, 3) and packed.dtype == np.uint64
    assert np.array_equal(unpackbits_rows(packed), bits)
    assert packbits_rows(np.eye(1, 64, 3, dtype=np.uint8))[0, 0] == 1 << 3


def test_hardening_steps() -> None:
    rng = np.random.default_rng(2)
    bits = (rng.random((50, 256)) < 0.3).astype(np.uint8)
    filters = packbits_rows(bits)
    balanced = unpackbits_rows(balance(filters, b"k" * 32))
    assert balanced.shape == (50, 512) and (balanced.sum(axis=1) == 256).all()
    folded = unpackbits_rows(xor_fold(filters))
    assert np.array_equal(folded, bits[:, :128] ^ bits[:, 128:])
    diffused = diffuse(filters, b"d" * 32, 3)
    assert np.array_equal(diffused, diffuse(filters, b"d" * 32, 3))
    assert not np.array_equal(diffused, diffuse(filters, b"e" * 32, 3))
    noisy = unpackbits_rows(blip(filters, 2.0, seed=0))
    assert abs((noisy != bits).mean() - blip_flip_probability(2.0)) < 0.02
    assert np.array_equal(blip(filters, 2.0, seed=0), blip(filters, 2.0, seed=0))
    assert not np.array_equal(blip(filters, 2.0), blip(filters, 2.0))  # fresh noise
    many = unpackbits_rows(blip(np.zeros((20_000, 4), np.uint64), 3.0))
    assert abs(many.mean() - blip_flip_probability(3.0)) < 0.002  # exact rate, every bit
    assert abs(many[:, :64].mean() - many[:, -64:].mean()) < 0.003  # no position bias
    flips = many.sum(axis=1)  # per row: binomial(256, p), not a fixed count
    p = blip_flip_probability(3.0)
    assert abs(flips.var() - 256 * p * (1 - p)) < 1.5


def _reference_blip(rows: int, words: int, epsilon: float, seed: int) -> np.ndarray:
    """BLIP in plain Python: SplitMix64 per row, geometric gaps by logarithm (no table)."""
    mask = (1 << 64) - 1

    def splitmix(state: int) -> tuple[int, int]:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return state, z ^ (z >> 31)

    log_keep = math.log1p(-blip_flip_probability(epsilon))
    out = np.zeros((rows, words), dtype=np.uint64)
    for i in range(rows):
        state, _ = splitmix(seed ^ ((i * 0xD1B54A32D192ED03) & mask))
        position = -1
        while True:
            state, z = splitmix(state)
            u = ((z >> 11) + 1.0) / 9007199254740992.0
            position += math.floor(math.log(u) / log_keep) + 1
            if position >= words * 64:
                break
            out[i, position >> 6] ^= np.uint64(1 << (position & 63))
    return out


@pytest.mark.parametrize("epsilon", [0.5, 3.0, 8.0])
def test_blip_gap_table_is_exact(epsilon: float) -> None:
    """The compiled kernel reads most gaps from a table: it flips exactly the bits that
    the logarithm would, and in place it gives the same bits as on a copy."""
    expected = _reference_blip(300, 4, epsilon, seed=12345)
    zeros = np.zeros((300, 4), dtype=np.uint64)
    assert np.array_equal(blip(zeros, epsilon, seed=12345), expected)
    assert not zeros.any()  # a copy by default
    blip(zeros, epsilon, seed=12345, in_place=True)
    assert np.array_equal(zeros, expected)


def test_hardened_encoding_shapes(small_cohort: Cohort) -> None:
    schema = default_schema().model_copy(update={"hardening": HardeningSpec(
        balance=True, diffusion_taps=4, applies_to=("record",))})
    enc = BloomFilterEncoder(schema, ProjectKey(SECRET)).encode(
        small_cohort.extracts["social_care"])
    assert enc.record_filters.shape[1] == 32
    assert (np.bitwise_count(enc.record_filters).sum(axis=1) > 0).all()


def test_xor_fold_needs_even_word_counts() -> None:
    from pydantic import ValidationError

    from linkage.encoding import EncodingSchema

    data = default_schema().model_dump()
    data["hardening"] = {"xor_fold": True}
    with pytest.raises(ValidationError, match=r"multiples of 128; not: 64 \(sex\)"):
        EncodingSchema.model_validate(data)
    data["hardening"] = {"xor_fold": True, "applies_to": ["record"]}
    assert EncodingSchema.model_validate(data).hardening.xor_fold


def _rewrite(path: Path, out: Path, change: Callable[[dict[str, np.ndarray]], None]) -> Path:
    arrays = dict(np.load(path))
    change(arrays)
    np.savez(out, **arrays)
    return out


def test_encoding_files_from_elsewhere_are_checked_before_use(tmp_path: Path,
                                                              small_cohort: Cohort) -> None:
    """Repeated or blank record ids, a too-narrow filter, an extra member and a relabelled
    field list are refused naming this file, before the linkage unit uses it."""
    enc = BloomFilterEncoder(default_schema(), ProjectKey(SECRET)).encode(
        small_cohort.extracts["health"].head(40), partner="health")
    path = write_encodings(tmp_path / "h.npz", enc, schema=default_schema(),
                           agreement_id="a", agreement_version="1")

    def repeat(a: dict[str, np.ndarray]) -> None:
        a["record_ids"] = a["record_ids"].copy()
        a["record_ids"][5] = a["record_ids"][3]

    def narrow(a: dict[str, np.ndarray]) -> None:
        a["field__given_name"] = a["field__given_name"][:, :2]

    def extra(a: dict[str, np.ndarray]) -> None:
        a["payload"] = np.zeros(10, np.uint8)

    def no_records(a: dict[str, np.ndarray]) -> None:
        for name in list(a):
            if name != "header":
                a[name] = a[name][:0]

    for change, expected in ((repeat, "repeats an earlier record id"),
                             (narrow, "'field__given_name' has 2 columns"),
                             (extra, "payload"), (no_records, "no records")):
        bad = _rewrite(path, tmp_path / f"{change.__name__}.npz", change)
        with pytest.raises(EncodingError, match=expected) as caught:
            read_encodings(bad)
        assert str(bad) in str(caught.value)
        assert not any(rid in str(caught.value) for rid in enc.record_ids)
