"""Tokenisers: normalised values -> the tokens hashed into their filters (vectorised).

- names: padded q-grams (``_o ol li iv ve er r_`` for "oliver"), spaces kept inside.
- dates: positional tokens ``d:07 m:03 y:2021``, so a day/month swap still shares the year
  and an off-by-one day still shares month and year.
- postcodes: q-grams of the compact form plus ``out:LS12`` and ``sector:LS123`` tokens, so a
  move within a sector or district keeps some similarity.
- sex, NHS number and other exact codes: one token (``s:f``, ``n:9434765919``, ``e:...``).
- other free text: padded q-grams, as names.

A repeated q-gram within one value is kept: it sets the same bits twice, which changes
nothing in a Bloom filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.encoding.schema import FieldKind, FieldSpec

#: Between a token and its salt: ``ol|2021-03-07``.
SALT_SEPARATOR = "|"


@dataclass(frozen=True)
class TokenTable:
    """Tokens of a set of distinct values: token ``token[e]`` belongs to value ``owner[e]``."""

    owner: np.ndarray  #: (E,) int64, index into the values
    token: np.ndarray  #: (E,) str_


def _as_str(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.str_) if len(values) else np.zeros(0, dtype="<U1")


def qgram_table(text: np.ndarray, q: int) -> TokenTable:
    """All q-grams of each string of ``text``; a string shorter than ``q`` is one token."""
    lengths = np.strings.str_len(text)
    index = np.arange(len(text), dtype=np.int64)
    owners = [index[lengths < q]]
    tokens = [text[lengths < q]]
    for start in range(int(lengths.max(initial=0)) - q + 1):
        has = lengths >= start + q
        owners.append(index[has])
        tokens.append(np.strings.slice(text[has], start, start + q))
    return TokenTable(np.concatenate(owners), np.concatenate(tokens))


def salted_tokens(tokens: np.ndarray, salts: np.ndarray) -> np.ndarray:
    """Each token followed by :data:`SALT_SEPARATOR` and its salt: (T,) str twice -> (T,) str."""
    return np.strings.add(np.strings.add(_as_str(tokens), SALT_SEPARATOR), _as_str(salts))


def _prefixed(prefixes: list[tuple[str, np.ndarray]], count: int) -> TokenTable:
    index = np.arange(count, dtype=np.int64)
    return TokenTable(np.tile(index, len(prefixes)),
                      np.concatenate([np.strings.add(p, part) for p, part in prefixes]))


def tokenise_values(values: np.ndarray, spec: FieldSpec,
                    salts: np.ndarray | None = None) -> TokenTable:
    """Tokens of each normalised, non-empty value of the field ``spec``.

    ``values``: (V,) str. ``salts``: optional (V,) str appended to every token of a value
    as ``|salt``. Returns a :class:`TokenTable` whose owners index ``values``.
    """
    text = _as_str(values)
    kind = spec.kind
    if kind in (FieldKind.NAME, FieldKind.TEXT):
        table = qgram_table(np.strings.add(np.strings.add("_", text), "_") if spec.padded
                            else text, spec.qgram_length)
    elif kind is FieldKind.DATE:
        table = _prefixed([("d:", np.strings.slice(text, 8, 10)),
                           ("m:", np.strings.slice(text, 5, 7)),
                           ("y:", np.strings.slice(text, 0, 4))], len(text))
    elif kind is FieldKind.POSTCODE:
        grams = qgram_table(text, spec.qgram_length)
        lengths = np.strings.str_len(text)
        extra = _prefixed([("out:", np.strings.slice(text, 0, lengths - 3)),
                           ("sector:", np.strings.slice(text, 0, lengths - 2))], len(text))
        table = TokenTable(np.concatenate([grams.owner, extra.owner]),
                           np.concatenate([grams.token, extra.token]))
    else:
        table = _prefixed([(f"{kind.value[0]}:", text)], len(text))
    if salts is not None:
        table = TokenTable(table.owner, salted_tokens(table.token, _as_str(salts)[table.owner]))
    return table

