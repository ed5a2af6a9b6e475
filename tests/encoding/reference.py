"""A slow, plain-Python reference encoder: one record at a time, no numpy tricks.

It re-implements normalisation, tokenising and hashing from their definitions so that
the vectorised encoder can be checked bit for bit against it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata

import jellyfish
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from linkage.encoding import EncodingSchema, FieldSpec, ProjectKey

_EPOCH = dt.date(1970, 1, 1).toordinal()

TITLES = {"mr", "mrs", "miss", "ms", "mx", "dr", "master", "baby", "infant"}


def ref_normalise(spec: FieldSpec, raw: str) -> str:
    kind = spec.kind.value
    if kind == "name":
        text = "".join(c for c in unicodedata.normalize("NFKD", raw)
                       if not unicodedata.combining(c)).casefold()
        text = text.replace("'", "").replace("’", "").replace("-", " ")
        text = "".join(c if "a" <= c <= "z" else " " for c in text)
        return " ".join(w for w in text.split() if w not in TITLES)
    if kind == "text":
        text = "".join(c for c in unicodedata.normalize("NFKD", raw)
                       if not unicodedata.combining(c)).casefold()
        text = text.replace("'", "").replace("’", "")
        text = "".join(c if ("a" <= c <= "z" or "0" <= c <= "9") else " " for c in text)
        return " ".join(text.split())
    if kind == "exact":
        return raw.strip().casefold()
    if kind == "date":
        try:
            d = dt.datetime.strptime(raw.strip(), spec.date_format)
        except ValueError:
            return ""
        return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    if kind == "postcode":
        compact = "".join(c for c in raw if c.isalnum()).upper()
        return compact if re.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}", compact) else ""
    if kind == "nhs_number":
        digits = "".join(c for c in raw if c not in " -")
        if len(digits) != 10 or not all("0" <= c <= "9" for c in digits):
            return ""
        total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        return digits if check != 10 and check == int(digits[9]) else ""
    return {"m": "m", "male": "m", "1": "m", "boy": "m", "f": "f", "female": "f", "2": "f",
            "girl": "f"}.get(raw.strip().casefold(), "")


def ref_tokens(spec: FieldSpec, value: str, salt: str | None) -> list[str]:
    kind = spec.kind.value
    if kind in ("name", "text"):
        text = f"_{value}_" if spec.padded else value
        q = spec.qgram_length
        toks = [text] if len(text) < q else [text[i:i + q] for i in range(len(text) - q + 1)]
    elif kind == "date":
        toks = ["d:" + value[8:10], "m:" + value[5:7], "y:" + value[0:4]]
    elif kind == "postcode":
        q = spec.qgram_length
        toks = [value] if len(value) < q else [value[i:i + q] for i in range(len(value) - q + 1)]
        toks += ["out:" + value[:-3], "sector:" + value[:-2]]
    else:
        toks = [kind[0] + ":" + value]
    return [t + "|" + salt for t in toks] if salt is not None else toks


def ref_block(token: str) -> bytes:
    data = token.encode("utf-8")
    return (bytes([len(data)]) + data.ljust(14, b"\0") if len(data) <= 14
            else b"\xff" + hashlib.sha256(data).digest()[:14])


def ref_aes(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def ref_positions(token: str, key: bytes, k: int, m: int) -> list[int]:
    block = ref_block(token)
    out: list[int] = []
    counter = 0
    while len(out) < k:
        cipher = ref_aes(key, block + bytes([counter]))
        out += [int.from_bytes(cipher[i:i + 2], "little") % m for i in range(0, 16, 2)]
        counter += 1
    return out[:k]


def ref_bits(tokens: list[str], key: bytes, k: int, m: int) -> int:
    bits = 0
    for token in tokens:
        for p in ref_positions(token, key, k, m):
            bits |= 1 << p
    return bits


def to_words(bits: int, m: int) -> list[int]:
    return [(bits >> (64 * w)) & (2**64 - 1) for w in range(m // 64)]


def ref_encode_record(row: dict[str, str], schema: EncodingSchema,
                      key: ProjectKey) -> dict[str, object]:
    """Field filters, record filter (as lists of uint64 words) and blocking keys of one row."""
    normal = {f.name: ref_normalise(f, row.get(f.name, "")) for f in schema.fields}
    fields: dict[str, list[int]] = {}
    record = 0
    for spec in schema.fields:
        value = normal[spec.name]
        salt = None
        if spec.salt_with:
            other, _, how = spec.salt_with.partition(".")
            s = normal[other]
            salt = ({"year": s[:4], "": s}[how]) if s else None
            if salt is None:
                value = ""
        if not value:
            fields[spec.name] = [0] * (spec.filter_bits // 64)
            continue
        toks = ref_tokens(spec, value, salt)
        fields[spec.name] = to_words(ref_bits(toks, key.derive(f"field:{spec.name}"),
                                              spec.bits_per_token, spec.filter_bits),
                                     spec.filter_bits)
        if spec.record_bits_per_token:
            record |= ref_bits(toks, key.derive(f"record:{spec.name}"),
                               spec.record_bits_per_token, schema.record_filter_bits)
    return {"fields": fields, "record": to_words(record, schema.record_filter_bits),
            "blocking": ref_blocking(normal, schema, key)}


def ref_blocking(normal: dict[str, str], schema: EncodingSchema, key: ProjectKey) -> list[int]:
    """The keyed blocking token of every pass for one record's normalised values."""
    blocking = []
    for p in schema.blocking:
        parts = []
        for part in p.parts:
            name, _, how = part.partition(".")
            v = normal[name]
            if v and how == "soundex":
                v = jellyfish.soundex(v.replace(" ", ""))
            elif v and how == "year":
                v = v[:4]
            elif v and how == "month":
                v = v[5:7]
            elif v and how == "outward":
                v = v[:-3]
            elif v and how == "first2":
                v = v[:2]
            elif v and how == "unordered":  # year, then day and month in either order
                v = "-".join([v[:4], *sorted([v[5:7], v[8:10]])])
            elif v and how in ("two_days", "two_days_shifted"):  # days since 1970, halved
                days = dt.date(int(v[:4]), int(v[5:7]), int(v[8:10])).toordinal() - _EPOCH
                v = str((days + (how == "two_days_shifted")) // 2)
            elif v and how in ("day_month_two_years", "day_month_two_years_shifted"):
                v = f"{v[5:10]}/{(int(v[:4]) + (how == 'day_month_two_years_shifted')) // 2}"
            parts.append(v)
        if all(parts):
            hashes = [ref_aes(key.derive("blocking-part:" + (spec.partition(".")[2] or "whole")),
                              ref_block(v) + b"\0")[:5]
                      for spec, v in zip(p.parts, parts, strict=True)]
            if p.either_order and int.from_bytes(hashes[1], "little") < \
                    int.from_bytes(hashes[0], "little"):
                hashes[0], hashes[1] = hashes[1], hashes[0]
            plain = b"".join(hashes).ljust(15, b"\0") + bytes([len(hashes)])
            token = int.from_bytes(ref_aes(key.derive(f"blocking:{p.name}"), plain)[:8],
                                   "little")
            blocking.append(token or 1)
        else:
            blocking.append(0)
    return blocking
