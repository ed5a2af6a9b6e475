"""Salted fields: u from salt-agreeing random pairs, and blocking-token fallbacks."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.cohort_sources import encode_extracts
from linkage.contracts import ComparisonHints, EncodedSource, FieldKind, SaltFallback
from linkage.encoding import EncodingSchema, HardeningSpec, ProjectKey, default_schema
from linkage.matching import DedupGate, Linker, pairwise_quality, select_links
from linkage.matching.candidates import compare_pairs
from linkage.matching.comparison import FieldComparison
from linkage.protocols import load_agreement
from linkage.synth import Cohort

from ..helpers import EXAMPLE

KEY = ProjectKey(bytes(range(32)))


def _salted(schema: EncodingSchema) -> EncodingSchema:
    data = schema.model_dump()
    data["fields"] = [dict(f, salt_with="date_of_birth")
                      if f["name"] in ("given_name", "family_name") else f
                      for f in data["fields"]]
    return EncodingSchema.model_validate(data)


def _names_source(filters: dict[str, np.ndarray], keys: np.ndarray) -> EncodedSource:
    """Records of given and family name (both salted by the date ``dob``) and the date, with
    one either-order pass ``pass`` (``keys`` (n, 1) its tokens)."""
    n = len(keys)
    hints = ComparisonHints(salted_by={"given": "dob", "family": "dob"}, salt_fallbacks=(
        SaltFallback("pass", "given", swapped_field="family"),))
    return EncodedSource("p", np.array([f"r{k}" for k in range(n)]), np.zeros((n, 1), np.uint64),
                         filters, np.zeros((n, 3), bool), ("given", "family", "dob"),
                         {"given": FieldKind.NAME, "family": FieldKind.NAME,
                          "dob": FieldKind.DATE}, keys, ("pass",), hints)


def test_passes_that_stand_in_for_salted_names() -> None:
    plain = default_schema(hardening=HardeningSpec(), salt_names=False)
    assert plain.salt_fallbacks() == ()
    assert _salted(plain).salt_fallbacks() == (
        SaltFallback("names_swapped_dob", "given_name"),  # not names_soundex_month or _year
        SaltFallback("names_two_days", "given_name"),
        SaltFallback("names_two_days_shifted", "given_name"),
        SaltFallback("names_two_years", "given_name"),
        SaltFallback("names_two_years_shifted", "given_name"),
        SaltFallback("names_either_order_dob", "given_name", swapped_field="family_name"),
        SaltFallback("given_soundex_postcode", "given_name", "postcode"),
        SaltFallback("family_soundex_postcode", "family_name", "postcode"))  # not *_dob


def test_one_coarse_date_fallback_per_salted_field() -> None:
    # exact names with the birth year would agree together with the month on namesakes
    # born in the same month of a year: counted twice, they linked them
    data = _salted(default_schema(hardening=HardeningSpec(), salt_names=False)).model_dump()
    data["blocking"] = [*data["blocking"], {"name": "names_month", "either_order": False,
                        "parts": ("given_name", "family_name", "date_of_birth.month")},
                        {"name": "names_year", "either_order": False,
                        "parts": ("given_name", "family_name", "date_of_birth.year")}]
    fallbacks = EncodingSchema.model_validate(data).salt_fallbacks()
    # the swap pass never agrees together with another where the dates differ, nor do the
    # two two-day spans; the month would agree with either span, so it does not qualify
    assert [fb.blocking_pass for fb in fallbacks if fb.salted_field == "given_name"
            and fb.gate_field is None and fb.swapped_field is None] == [
        "names_swapped_dob", "names_two_days", "names_two_days_shifted", "names_two_years",
        "names_two_years_shifted"]

    def coarse(*passes: tuple[str, ...]) -> list[str]:
        data["blocking"] = [{"name": f"p{k}", "either_order": False, "parts": parts}
                            for k, parts in enumerate(passes)]
        return [fb.blocking_pass for fb in EncodingSchema.model_validate(data).salt_fallbacks()]

    # whatever the order of the names, and with one name alone, a name counts once
    assert coarse(("given_name", "family_name", "date_of_birth.month"),
                  ("family_name", "given_name", "date_of_birth.year"),
                  ("family_name", "date_of_birth.year")) == ["p0"]
    assert coarse(("given_name", "date_of_birth.year"),
                  ("given_name", "family_name", "date_of_birth.month"),
                  ("family_name", "date_of_birth.month")) == ["p0", "p2"]
    # two-day spans (Soundex codes allowed: namesakes a day apart are rare) pair up, and
    # exclude a coarser date for the same name, whichever comes first
    spans = (("given_name.soundex", "family_name.soundex", "date_of_birth.two_days"),
             ("given_name.soundex", "family_name.soundex", "date_of_birth.two_days_shifted"))
    month = ("given_name", "family_name", "date_of_birth.month")
    assert coarse(*spans, month) == ["p0", "p1"]
    assert coarse(month, *spans) == ["p0"]
    assert coarse(spans[0], spans[0]) == ["p0"]
    # other derived names do not
    assert coarse(("given_name.first2", "family_name.first2", "date_of_birth.two_days")) == []
    # so may a swapped date's; Soundex codes with a coarser date still do not qualify
    assert coarse(("given_name.soundex", "family_name.soundex", "date_of_birth.unordered"),
                  *spans) == ["p0", "p1", "p2"]
    assert coarse(("given_name.soundex", "family_name.soundex", "date_of_birth.year")) == []
    # the two-year spans of the day and month pair up beside the two-day spans (where the
    # dates differ, a day span needs the days to differ and a year span needs them equal),
    # and a month, which agrees with either kind where the dates differ, excludes both
    years = (("given_name.soundex", "family_name.soundex", "date_of_birth.day_month_two_years"),
             ("given_name.soundex", "family_name.soundex",
              "date_of_birth.day_month_two_years_shifted"))
    assert coarse(*spans, *years) == ["p0", "p1", "p2", "p3"]
    assert coarse(*years, years[1]) == ["p0", "p1"]
    assert coarse(month, *years) == ["p0"]
    assert coarse(*years, month) == ["p0", "p1"]
    # the year agrees through a swap (which keeps it), never through a year mistyped; and
    # with the month through a day mistyped within the month
    year = ("given_name", "family_name", "date_of_birth.year")
    swap = ("given_name.soundex", "family_name.soundex", "date_of_birth.unordered")
    assert coarse(year, swap) == ["p0"]
    assert coarse(year, *years) == ["p0", "p1", "p2"]
    assert coarse(month, swap) == ["p0", "p1"]


@pytest.mark.parametrize("part", ["two_days", "day_month_two_years_shifted"])
def test_a_span_of_a_field_that_is_not_a_date_is_refused(part: str) -> None:
    data = default_schema(hardening=HardeningSpec()).model_dump()
    data["blocking"] = [{"name": "bad", "either_order": False,
                         "parts": ("given_name", f"postcode.{part}")}]
    with pytest.raises(ValueError, match=rf"'postcode\.{part}' takes a part of a date"):
        EncodingSchema.model_validate(data)


def test_coarse_date_fallback_is_compared_only_where_the_dates_differ() -> None:
    # fields: name (salted by dob), dob; pass = name + dob.month
    filters = {"name": np.array([[1], [1], [1], [1]], np.uint64),
               "dob": np.array([[7], [7], [8], [9]], np.uint64)}
    keys = np.array([[11], [11], [11], [0]], np.uint64)  # last record: no month
    hints = ComparisonHints(salted_by={"name": "dob"},
                            salt_fallbacks=(SaltFallback("pass", "name"),))
    side = EncodedSource("p", np.array(["a", "b", "c", "d"]), np.zeros((4, 1), np.uint64),
                         filters, np.zeros((4, 2), bool), ("name", "dob"),
                         {"name": FieldKind.NAME, "dob": FieldKind.DATE}, keys, ("pass",),
                         hints)
    comparisons = (FieldComparison("name", (0.9,)), FieldComparison("dob", (0.9,)),
                   FieldComparison("pass", (0.5,)))
    levels = compare_pairs(side, side, np.zeros(3, np.int64), np.arange(1, 4), comparisons)
    assert levels[0].tolist() == [0, 0, -1]   # dates agree: the name itself is compared
    assert levels[1].tolist() == [-1, 1, 0]   # a mistyped day: the tokens still agree
    assert levels[2].tolist() == [-1, 1, -1]  # no token on one side: silent


def test_either_order_fallback_is_compared_only_where_both_names_disagree() -> None:
    # fields: given, family (both salted by dob), dob; pass = names in either order + dob
    filters = {"given": np.array([[1], [1], [2], [3], [1]], np.uint64),
               "family": np.array([[2], [2], [1], [4], [2]], np.uint64),
               "dob": np.array([[7], [7], [7], [7], [9]], np.uint64)}
    side = _names_source(filters, np.array([[11], [11], [11], [12], [13]], np.uint64))
    comparisons = (FieldComparison("given", (0.9,)), FieldComparison("family", (0.9,)),
                   FieldComparison("dob", (0.9,)), FieldComparison("pass", (0.5,)))
    levels = compare_pairs(side, side, np.zeros(4, np.int64), np.arange(1, 5), comparisons)
    assert levels[0].tolist() == [0, 0, 0, -1]   # names agree: the swap says nothing
    # swapped names: tokens equal, and the names' own disagreement is what the swap
    # explains (left out, not counted twice)
    assert levels[1].tolist() == [-1, -1, 0, 0]
    assert levels[2].tolist() == [1, 1, 0, 1]    # other names: tokens differ
    assert levels[3].tolist() == [-1, -1, 1, -1]  # dates differ: names and swap silent


def test_token_fallback_is_compared_only_where_the_salted_field_is_not() -> None:
    # fields: name (salted by dob), dob, postcode; pass 0 = name soundex + postcode
    filters = {"name": np.array([[1], [1], [1], [2]], np.uint64),
               "dob": np.array([[7], [7], [9], [9]], np.uint64),
               "postcode": np.array([[5], [5], [5], [6]], np.uint64)}
    keys = np.array([[11], [11], [11], [12]], np.uint64)
    hints = ComparisonHints(salted_by={"name": "dob"},
                            salt_fallbacks=(SaltFallback("pass", "name", "postcode"),))
    side = EncodedSource("p", np.array(["a", "b", "c", "d"]), np.zeros((4, 1), np.uint64),
                         filters, np.zeros((4, 3), bool), ("name", "dob", "postcode"),
                         {"name": FieldKind.NAME, "dob": FieldKind.DATE,
                          "postcode": FieldKind.POSTCODE}, keys, ("pass",), hints)
    comparisons = (FieldComparison("name", (0.9,)), FieldComparison("dob", (0.9,)),
                   FieldComparison("postcode", (0.9,)), FieldComparison("pass", (0.5,)))
    left, right = np.array([0, 0, 0]), np.array([1, 2, 3])
    levels = compare_pairs(side, side, left, right, comparisons)
    # (0,1): dob agrees -> name compared, fallback silent
    assert levels[0].tolist() == [0, 0, 0, -1]
    # (0,2): dob differs -> name silent; postcode agrees -> tokens compared (equal)
    assert levels[1].tolist() == [-1, 1, 0, 0]
    # (0,3): dob and postcode differ -> both silent
    assert levels[2].tolist() == [-1, 1, 1, -1]


def test_token_fallback_gate_opens_where_a_token_holding_the_gate_field_agrees() -> None:
    # BLIP noise can push two equal postcodes off the filter's top level; a token made from
    # the postcode (given soundex + postcode, family soundex + postcode) still shows it equal
    filters = {"given": np.array([[1], [1], [1]], np.uint64),
               "family": np.array([[2], [2], [2]], np.uint64),
               "dob": np.array([[7], [9], [9]], np.uint64),
               "postcode": np.array([[5], [8], [8]], np.uint64)}  # noisy: not at the top
    keys = np.array([[11, 21], [11, 22], [13, 23]], np.uint64)
    hints = ComparisonHints(salted_by={"given": "dob", "family": "dob"}, salt_fallbacks=(
        SaltFallback("given_pass", "given", "postcode"),
        SaltFallback("family_pass", "family", "postcode")))
    side = EncodedSource("p", np.array(["a", "b", "c"]), np.zeros((3, 1), np.uint64),
                         filters, np.zeros((3, 4), bool), ("given", "family", "dob", "postcode"),
                         {"given": FieldKind.NAME, "family": FieldKind.NAME,
                          "dob": FieldKind.DATE, "postcode": FieldKind.POSTCODE}, keys,
                         ("given_pass", "family_pass"), hints)
    comparisons = tuple(FieldComparison(n, (0.9,)) for n in
                        ("given", "family", "dob", "postcode", "given_pass", "family_pass"))
    levels = compare_pairs(side, side, np.array([0, 0]), np.array([1, 2]), comparisons)
    # (0,1): the given token agrees, so the postcodes are equal: the family token, which
    # differs, is compared; the given token's own gate opens only by the filter or the other
    # token (its own equality would count it where an unequal one stays silent)
    assert levels[0].tolist() == [-1, -1, 1, 1, -1, 1]
    # (0,2): no token agrees and the postcode filter differs: both silent
    assert levels[1].tolist() == [-1, -1, 1, 1, -1, -1]


@pytest.mark.parametrize("noise", [None, 1.5])
def test_salting_names_with_the_birth_date_keeps_linkage_quality(small_cohort: Cohort,
                                                                 noise: float | None) -> None:
    """Names salted with the date of birth (which stops the frequency and pattern-mining
    attacks) link as well as plain names: without u from salt-agreeing pairs and the
    token fallbacks this lost 3 F1 points on 20,000 children."""
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    hardening = HardeningSpec() if noise is None else HardeningSpec(
        blip_epsilon=noise, blip_fields=("given_name", "family_name", "postcode"))

    def mean_f1(schema: EncodingSchema) -> float:
        sources = encode_extracts(small_cohort.extracts, loaded, keys=KEY, schema=schema,
                                 noise_seed=3)
        quality = pairwise_quality(Linker().link(sources).links, small_cohort.truth)
        return float(np.mean([q.f1 for (a, b), q in quality.by_partner_pair.items() if a != b]))

    plain = mean_f1(default_schema(hardening=HardeningSpec(), salt_names=False))
    salted = mean_f1(_salted(default_schema(hardening=hardening)))
    # measured: -0.0001 (no noise) and -0.0016 (noise); -0.005 and -0.006 without the
    # token fallbacks
    assert salted >= plain - 0.004, (plain, salted)


def test_either_order_fallback_is_silent_where_a_noisy_name_still_agrees() -> None:
    # under BLIP noise one name written the same way often lands on the second level, and a
    # name inside the other ("Oliver" in "Oliver James") takes the containment level: neither
    # is a pair of swapped names, so the either-order token must not count against them
    given = FieldComparison("given", (0.9, 0.8, 0.5), contained_at=0.9, agreeing_levels=2)
    levels = np.array([0, 1, 2, 3, 4, -1], np.int8)  # 4: containment
    assert given.agrees(levels).tolist() == [True, True, False, False, True, False]
    ten, other_ten = np.uint64(0b1111111111), np.uint64(0b1111111111 << 20)
    near = np.uint64(0b110011111111)  # 10 bits, 8 of them shared with `ten`: Dice 0.8
    filters = {"given": np.array([[ten], [near]], np.uint64),
               "family": np.array([[ten], [other_ten]], np.uint64),
               "dob": np.array([[7], [7]], np.uint64)}
    side = _names_source(filters, np.array([[11], [12]], np.uint64))

    def levels_with(agreeing: int) -> list[int]:
        names = [FieldComparison(n, (0.9, 0.8, 0.5), agreeing_levels=agreeing)
                 for n in ("given", "family")]
        comparisons = (*names, FieldComparison("dob", (0.9,)), FieldComparison("pass", (0.5,)))
        return compare_pairs(side, side, np.array([0]), np.array([1]), comparisons)[0].tolist()

    assert levels_with(2) == [1, 3, 0, -1]  # the given name agrees on level 1: no swap
    assert levels_with(1) == [1, 3, 0, 1]   # exact filters: level 1 is another name


def test_agreeing_levels_must_fit_the_thresholds() -> None:
    from linkage.errors import MatchingError
    with pytest.raises(MatchingError, match="agreeing_levels"):
        FieldComparison("postcode", (0.9,), agreeing_levels=2)


def test_noisy_fields_agree_on_their_top_two_levels() -> None:
    from linkage.matching.comparison import comparisons_for
    noisy, exact = comparisons_for({"postcode": "postcode", "date_of_birth": "date"},
                                   noisy=("postcode",))
    assert (noisy.agreeing_levels, exact.agreeing_levels) == (2, 1)
    assert noisy.agrees(np.array([0, 1, 2, -1], np.int8)).tolist() == [True, True, False, False]
    # taken from the thresholds' values, so that overrides keep the meaning
    coarse, = comparisons_for({"postcode": "postcode"}, {"postcode": (0.9, 0.5)},
                              noisy=("postcode",))
    assert coarse.agreeing_levels == 1


def test_dedup_gate_takes_swapped_names_as_one_child() -> None:
    # two records born the same day whose given names differ would be twins, unless their
    # names are written the other way round (twins share the family name): the either-order
    # token's equality lets them through
    filters = {"given": np.array([[1], [2], [4], [8]], np.uint64),  # no bits in common
               "family": np.array([[2], [1], [2], [2]], np.uint64),
               "dob": np.array([[7], [7], [7], [7]], np.uint64)}
    # the token is the same in either order: 0 and 1 are swapped names, 0 and 3 twins whose
    # given names share a Soundex code (Sophie and Sophia) and their family name
    side = _names_source(filters, np.array([[11], [11], [12], [11]], np.uint64))
    gate = DedupGate(fields=("given",), twins_share="dob", different_if=())
    chosen = select_links(side, side, np.array([0, 0, 0]), np.array([1, 2, 3]), np.zeros(3),
                          np.ones(3), threshold=0.5, gate=gate)
    assert chosen.tolist() == [True, False, False]  # swapped: one child; the others twins


def test_fallbacks_do_not_depend_on_the_order_of_the_passes() -> None:
    # swapped names at one address: where the either-order token agrees the names are left
    # out, and that must not switch on the postcode-gated token (meant for differing dates)
    filters = {"given": np.array([[1], [2]], np.uint64),
               "family": np.array([[2], [1]], np.uint64),
               "dob": np.array([[7], [7]], np.uint64),
               "postcode": np.array([[5], [5]], np.uint64)}
    keys = np.array([[11, 21], [11, 22]], np.uint64)
    fallbacks = (SaltFallback("either", "given", swapped_field="family"),
                 SaltFallback("gpost", "given", "postcode"))
    names = ("given", "family", "dob", "postcode")
    kinds = {"given": FieldKind.NAME, "family": FieldKind.NAME, "dob": FieldKind.DATE,
             "postcode": FieldKind.POSTCODE}
    comparisons = tuple(FieldComparison(n, (0.9,)) for n in (*names, "either", "gpost"))
    got = []
    for order in (fallbacks, fallbacks[::-1]):
        hints = ComparisonHints(salted_by={"given": "dob", "family": "dob"},
                                salt_fallbacks=order)
        side = EncodedSource("p", np.array(["a", "b"]), np.zeros((2, 1), np.uint64), filters,
                             np.zeros((2, 4), bool), names, kinds, keys, ("either", "gpost"),
                             hints)
        got.append(compare_pairs(side, side, np.array([0]), np.array([1]),
                                 comparisons)[0].tolist())
    assert got[0] == got[1] == [-1, -1, 0, 0, 0, -1]


def test_a_noisy_name_near_the_top_is_the_same_name_where_its_soundex_token_agrees() -> None:
    from linkage.matching.candidates import _confirm
    from linkage.matching.comparison import NOISY_THRESHOLDS

    n = 8
    a_keys = np.array([[5]] * 7 + [[0]], np.uint64)
    b_keys = np.array([[5], [5], [5], [6], [0], [5], [5], [0]], np.uint64)

    def source(keys: np.ndarray, flip: float) -> EncodedSource:
        hints = ComparisonHints(flip_probability={"name": flip} if flip else {},
                                salted_by={"name": "dob"}, confirmed_by={"name": "pass"})
        return EncodedSource("p", np.array([f"r{i}" for i in range(n)]),
                             np.zeros((n, 1), np.uint64), {"name": np.zeros((n, 1), np.uint64)},
                             np.zeros((n, 1), bool), ("name",), {"name": FieldKind.NAME}, keys,
                             ("pass",), hints)

    comparisons = (FieldComparison("name", NOISY_THRESHOLDS["name"], agreeing_levels=2),)
    assert comparisons[0].confirmable_levels == 3  # 0.9, 0.8 and 0.7
    rows = np.arange(n)
    levels = np.array([[1], [2], [3], [1], [1], [0], [-1], [1]], np.int8)
    out = levels.copy()
    _confirm(source(a_keys, 0.3), source(b_keys, 0.3), rows, rows, out, comparisons,
             {"name": 0})
    # near the top with equal tokens: raised; level 3, other tokens, a token missing on one
    # side or on both, missing filters: as they were
    assert out[:, 0].tolist() == [0, 0, 3, 1, 1, 0, -1, 1]
    between = levels.copy()  # between two sources: never (twins with alike names)
    _confirm(source(a_keys, 0.3), source(b_keys, 0.3).named("q"), rows, rows, between,
             comparisons, {"name": 0})
    assert between.tolist() == levels.tolist()
    exact = levels.copy()  # filters without noise say exactly what they see
    _confirm(source(a_keys, 0.0), source(b_keys, 0.0), rows, rows, exact, comparisons,
             {"name": 0})
    assert exact.tolist() == levels.tolist()


def test_the_pass_that_confirms_a_salted_name() -> None:
    schema = default_schema()
    assert schema.salt_confirmations() == {"given_name": "given_soundex_dob",
                                           "family_name": "family_soundex_dob"}
    assert default_schema(hardening=HardeningSpec(), salt_names=False) \
        .salt_confirmations() == {}
    data = schema.model_dump()

    def confirmations(*passes: dict[str, object]) -> dict[str, str]:
        data["blocking"] = list(passes)
        return EncodingSchema.model_validate(data).salt_confirmations()

    # either order of the parts; not an either-order pass, a coarser salt or a third part
    assert confirmations({"name": "p", "parts": ("date_of_birth", "given_name.soundex")}) \
        == {"given_name": "p"}
    assert confirmations(
        {"name": "p", "either_order": True, "parts": ("given_name.soundex", "date_of_birth")},
        {"name": "q", "parts": ("given_name.soundex", "date_of_birth.year")},
        {"name": "r", "parts": ("given_name.soundex", "family_name.soundex",
                                "date_of_birth")}) == {}


def test_confirmation_leaves_twins_with_alike_names_apart_between_sources() -> None:
    """Twins with names alike in sound and spelling (Sophie and Sophia, one Soundex code)
    differ only in the given name: between sources the confirmation does not act, so the
    same name reaches the top level far more often than the alike one; within a source the
    same name, written the same way, reaches it almost always."""
    import dataclasses

    from linkage.encoding import BloomFilterEncoder
    from linkage.matching.comparison import comparisons_for

    n = 200
    schema = default_schema()

    def top_share(x: str, y: str, *, between: bool, confirmed: bool = True) -> float:
        frame = pd.DataFrame({
            "record_id": [f"r{i}" for i in range(2 * n)], "given_name": [x, y] * n,
            "family_name": ["Khan"] * (2 * n), "date_of_birth": ["2020-03-07"] * (2 * n),
            "sex": ["F"] * (2 * n), "postcode": ["LS6 2AB"] * (2 * n),
            "nhs_number": [""] * (2 * n)})
        enc = BloomFilterEncoder(schema, KEY, noise_seed=3).encode(frame, {"nhs_number": None})
        if not confirmed:
            enc = dataclasses.replace(enc, hints=dataclasses.replace(enc.hints,
                                                                     confirmed_by={}))
        other = enc.named("other") if between else enc
        comparisons = comparisons_for(enc.field_kinds, noisy=tuple(enc.hints.flip_probability))
        left = np.arange(0, 2 * n, 2)
        levels = compare_pairs(enc, other, left, left + 1, comparisons)
        return float(np.mean(levels[:, enc.field_names.index("given_name")] == 0))

    same, alike = (top_share("Sophie", y, between=True) for y in ("Sophie", "Sophia"))
    assert alike == top_share("Sophie", "Sophia", between=True, confirmed=False)
    assert same - alike >= 0.4
    within = top_share("Sophie", "Sophie", between=False)
    assert within >= 0.95 > top_share("Sophie", "Sophie", between=False, confirmed=False)
