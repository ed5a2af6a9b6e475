"""The vectorised encoder agrees bit for bit with the plain-Python reference."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.encoding import (
    BloomFilterEncoder,
    EncodingSchema,
    FieldKind,
    FieldSpec,
    HardeningSpec,
    ProjectKey,
    default_schema,
)
from linkage.synth import Cohort

from .reference import ref_encode_record

KEY = ProjectKey(bytes(range(32)))


def _check_agreement(frame: pd.DataFrame, schema: EncodingSchema) -> None:
    enc = BloomFilterEncoder(schema, KEY).encode(frame)
    for i, row in enumerate(frame.to_dict("records")):
        ref = ref_encode_record(row, schema, KEY)
        for name, words in ref["fields"].items():  # type: ignore[attr-defined]
            assert enc.field_filters[name][i].tolist() == words, (i, name)
        assert enc.record_filters[i].tolist() == ref["record"], i
        assert enc.blocking_keys[i].tolist() == ref["blocking"], i


def test_agrees_on_a_synthetic_extract(small_cohort: Cohort) -> None:
    frame = small_cohort.extracts["social_care"].head(150)
    _check_agreement(frame, default_schema(hardening=HardeningSpec(), salt_names=False))


def test_agrees_with_the_defaults_salted_names(small_cohort: Cohort) -> None:
    """The default salts names with the date of birth (built from integer token codes)."""
    frame = small_cohort.extracts["health"].head(200)
    _check_agreement(frame, default_schema(hardening=HardeningSpec()))


def test_agrees_with_salts_too_long_to_join() -> None:
    """Salted tokens longer than one AES block are spelt out and hashed, as in the reference."""
    schema = EncodingSchema(fields=(
        FieldSpec(name="given_name", kind=FieldKind.NAME, salt_with="family_name",
                  record_bits_per_token=8),
        FieldSpec(name="family_name", kind=FieldKind.NAME),
    ))
    frame = pd.DataFrame({"record_id": ["a", "b"], "given_name": ["Amelia", "Jo"],
                          "family_name": ["Featherstonehaugh-Smythe", "Ng"]})
    _check_agreement(frame, schema)


def test_agrees_with_salting() -> None:
    schema = EncodingSchema(fields=(
        FieldSpec(name="given_name", kind=FieldKind.NAME, salt_with="date_of_birth.year",
                  record_bits_per_token=8),
        FieldSpec(name="family_name", kind=FieldKind.NAME, salt_with="date_of_birth"),
        FieldSpec(name="date_of_birth", kind=FieldKind.DATE, date_format="%d/%m/%Y"),
    ))
    frame = pd.DataFrame({"record_id": ["a", "b", "c", "d"],
                          "given_name": ["Amélie", "Amelie", "Zoë", "Jo"],
                          "family_name": ["Ng", "Ng", "Ng", ""],
                          "date_of_birth": ["03/04/2021", "03/04/2022", "", "31/02/2020"]})
    _check_agreement(frame, schema)


names = st.text(alphabet=st.sampled_from(list("abcdeéíñ 'ABZ-xyzøł")), max_size=18)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names, names, st.sampled_from(["M", "F", "", "x", "female"]),
                          st.dates().map(lambda d: d.isoformat()) | st.just("garbage"),
                          st.sampled_from(["LS6 2AB", "ls62ab", "", "SW1A 1AA", "BAD"]),
                          st.sampled_from(["9434765919", "943 476 5919", "9434765918", ""])),
                min_size=1, max_size=12))
def test_agrees_on_arbitrary_values(rows: list[tuple[str, ...]]) -> None:
    frame = pd.DataFrame(rows, columns=["given_name", "family_name", "sex", "date_of_birth",
                                        "postcode", "nhs_number"])
    frame.insert(0, "record_id", [f"r{i}" for i in range(len(frame))])
    _check_agreement(frame, default_schema(hardening=HardeningSpec(), salt_names=False))


def test_missing_values_leave_fields_empty_and_flagged() -> None:
    frame = pd.DataFrame({"record_id": ["a"], "given_name": [""], "family_name": ["Smith"],
                          "sex": ["U"], "date_of_birth": [""], "postcode": ["nonsense"],
                          "nhs_number": ["1234567890"]})
    plain = default_schema(hardening=HardeningSpec(), salt_names=False)
    enc = BloomFilterEncoder(plain, KEY).encode(frame)
    flagged = dict(zip(enc.field_names, enc.missing[0].tolist(), strict=True))
    assert flagged == {"given_name": True, "family_name": False, "date_of_birth": True,
                       "sex": True, "postcode": True, "nhs_number": True}
    for name, missing in flagged.items():
        assert (enc.field_filters[name][0] == 0).all() == missing
    assert enc.counts["nhs_number"]["invalid"] == 1
    assert enc.counts["postcode"]["invalid"] == 1
    assert enc.counts["given_name"]["invalid"] == 0  # blank is missing, not invalid
    assert np.all(enc.blocking_keys[0] == 0)


def test_agrees_on_text_and_exact_fields() -> None:
    schema = EncodingSchema(fields=(
        FieldSpec(name="address", kind=FieldKind.TEXT, record_bits_per_token=6),
        FieldSpec(name="state", kind=FieldKind.EXACT, filter_bits=64, bits_per_token=8),
    ))
    frame = pd.DataFrame({"record_id": ["a", "b", "c"],
                          "address": ["12 O'Neill St.", "12 oneill st", ""],
                          "state": [" NSW", "nsw", "vic"]})
    _check_agreement(frame, schema)
    enc = BloomFilterEncoder(schema, KEY).encode(frame)
    assert np.array_equal(enc.field_filters["address"][0], enc.field_filters["address"][1])
    assert np.array_equal(enc.field_filters["state"][0], enc.field_filters["state"][1])


def test_either_order_blocking_matches_swapped_names() -> None:
    frame = pd.DataFrame({"record_id": ["a", "b"], "given_name": ["Roman", "WHITE"],
                          "family_name": ["White", "Roman"], "sex": ["M", ""],
                          "date_of_birth": ["2022-08-28", "2022-08-28"], "postcode": "",
                          "nhs_number": ""})
    schema = default_schema(hardening=HardeningSpec(), salt_names=False)
    enc = BloomFilterEncoder(schema, KEY).encode(frame)
    names = list(enc.blocking_names)
    swapped = enc.blocking_keys[:, names.index("names_either_order_dob")]
    assert swapped[0] == swapped[1] != 0
    assert enc.blocking_keys[0, names.index("given_soundex_dob")] != \
        enc.blocking_keys[1, names.index("given_soundex_dob")]
    _check_agreement(frame, schema)


def test_a_swapped_date_gives_the_same_unordered_token() -> None:
    schema = default_schema(hardening=HardeningSpec())
    frame = pd.DataFrame({"record_id": ["a", "b", "c"], "given_name": ["Ava"] * 3,
                          "family_name": ["Khan"] * 3,
                          "date_of_birth": ["2021-03-07", "2021-07-03", "2021-03-08"],
                          "sex": ["F"] * 3, "postcode": ["LS6 2AB"] * 3,
                          "nhs_number": [""] * 3})
    enc = BloomFilterEncoder(schema, ProjectKey(bytes(32))).encode(frame, {"nhs_number": None})
    tokens = enc.blocking_keys[:, [p.name for p in schema.blocking].index("names_swapped_dob")]
    assert tokens[0] == tokens[1] != tokens[2] and tokens[2] != 0
    _check_agreement(frame, schema)


def _span_tokens(schema: EncodingSchema, dates: list[str], span_pass: str
                 ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One child's names on each of ``dates``, and the tokens of ``span_pass`` and of its
    ``_shifted`` twin (every record holds both)."""
    frame = pd.DataFrame({"record_id": [f"r{i}" for i in range(len(dates))],
                          "given_name": ["Ava"] * len(dates),
                          "family_name": ["Khan"] * len(dates), "date_of_birth": dates,
                          "sex": ["F"] * len(dates), "postcode": ["LS6 2AB"] * len(dates),
                          "nhs_number": [""] * len(dates)})
    enc = BloomFilterEncoder(schema, ProjectKey(bytes(32))).encode(frame, {"nhs_number": None})
    names = [p.name for p in schema.blocking]
    even = enc.blocking_keys[:, names.index(span_pass)]
    odd = enc.blocking_keys[:, names.index(f"{span_pass}_shifted")]
    assert (even != 0).all() and (odd != 0).all()
    return frame, even, odd


def test_a_date_and_the_day_next_to_it_share_exactly_one_two_day_token() -> None:
    schema = default_schema(hardening=HardeningSpec())
    dates = ["2021-03-07", "2021-03-08", "2021-03-09", "2020-12-31", "2021-01-01",
             "2020-02-28", "2020-02-29", "2020-03-01"]
    frame, even, odd = _span_tokens(schema, dates, "names_two_days")
    for x, y in [(0, 1), (1, 2), (3, 4), (5, 6), (6, 7)]:  # a day apart, across months/years
        assert (even[x] == even[y]) + (odd[x] == odd[y]) == 1, (dates[x], dates[y])
    assert even[0] != even[2] and odd[0] != odd[2]  # two days apart: neither
    _check_agreement(frame, schema)


def test_a_date_and_the_same_day_a_year_on_share_exactly_one_two_year_token() -> None:
    schema = default_schema(hardening=HardeningSpec())
    dates = ["2020-03-07", "2021-03-07", "2022-03-07", "2023-03-07", "2021-03-08",
             "2019-02-28", "2020-02-29", "2021-07-03"]
    frame, even, odd = _span_tokens(schema, dates, "names_two_years")
    for x, y in [(0, 1), (1, 2), (2, 3)]:  # the same day a year apart, either span's edge
        assert (even[x] == even[y]) + (odd[x] == odd[y]) == 1, (dates[x], dates[y])
    for x, y in [(0, 2), (1, 3), (1, 4), (5, 6), (1, 7)]:  # two years, a day, 29 February,
        assert even[x] != even[y] and odd[x] != odd[y], (dates[x], dates[y])  # a swap: none
    _check_agreement(frame, schema)


def test_a_two_day_part_of_a_value_that_is_not_a_date_names_no_value() -> None:
    from linkage.contracts import Derivation
    from linkage.encoding.encoder import _derive_part
    from linkage.errors import InputDataError

    for how in (Derivation.TWO_DAYS, Derivation.DAY_MONTH_TWO_YEARS_SHIFTED):
        for value in ("2021-13-45", "abcd-03-07"):
            with pytest.raises(InputDataError) as caught:
                _derive_part(value, how)
            message = str(caught.value)
            assert how.value in message and value[:4] not in message and "45" not in message
