import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.contracts import ComparisonHints, EncodedSource, FieldKind
from linkage.errors import InputDataError
from linkage.matching import (
    DedupGate,
    calibration_table,
    greedy_clusters,
    greedy_one_to_one,
    pairwise_quality,
    select_links,
)
from linkage.matching.evaluation import (
    calibrated_max_gap,
    calibration_excess,
    wilson_interval,
)


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 4).flatmap(lambda s: st.tuples(
    st.just(s), st.lists(st.integers(0, s - 1), min_size=2, max_size=25),
    st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24), st.floats(-5, 30)),
             max_size=60))))
def test_clusters_hold_at_most_one_record_per_source(case) -> None:  # type: ignore[no-untyped-def]
    _, source, edges = case
    n = len(source)
    edges = [(a % n, b % n, w) for a, b, w in edges if a % n != b % n]
    src = np.asarray(source)
    a = np.asarray([e[0] for e in edges], dtype=np.int64)
    b = np.asarray([e[1] for e in edges], dtype=np.int64)
    w = np.asarray([e[2] for e in edges], dtype=float)
    clusters = greedy_clusters(src, a, b, w, np.ones(len(a)))
    frame = pd.DataFrame({"label": clusters.label, "source": src})
    assert not frame.duplicated().any()
    # every accepted edge joins records of one cluster
    assert (clusters.label[a[clusters.accepted]] == clusters.label[b[clusters.accepted]]).all()


def test_greedy_prefers_heavier_edges() -> None:
    # a0-b0 (9), a0-b1 (5), a1-b0 (4): greedy keeps a0-b0 only, then a1, b1 are free
    accepted = greedy_one_to_one(np.array([0, 0, 1]), np.array([0, 1, 0]),
                                 np.array([9.0, 5.0, 4.0]))
    assert accepted.tolist() == [True, False, False]


def test_within_source_edges_may_join_records_of_one_source() -> None:
    source = np.array([0, 0, 1])
    clusters = greedy_clusters(source, np.array([0, 0]), np.array([1, 2]), np.array([3.0, 9.0]),
                               np.array([0.9, 0.99]), within_source=np.array([True, False]))
    assert len(set(clusters.label.tolist())) == 1
    assert clusters.probability.tolist() == [0.99, 0.9, 0.99]


def test_pairwise_quality_counts() -> None:
    truth = pd.DataFrame({"partner": ["h", "h", "e", "e", "s"],
                          "record_id": ["h1", "h2", "e1", "e2", "s1"],
                          "person_id": ["p1", "p2", "p1", "p2", "p1"]})
    links = pd.DataFrame({"cluster_id": [0, 0, 1, 1],
                          "partner": ["h", "e", "h", "s"],
                          "record_id": ["h1", "e1", "h2", "s1"]})
    q = pairwise_quality(links, truth)
    # true pairs: h1-e1, h1-s1, e1-s1, h2-e2; predicted: h1-e1 (tp), h2-s1 (fp)
    assert (q.overall.true_positives, q.overall.false_positives,
            q.overall.false_negatives) == (1, 1, 3)
    assert q.overall.precision == 0.5 and q.overall.recall == pytest.approx(0.25)
    assert q.by_partner_pair[("e", "h")].f1 == pytest.approx(2 / 3)


def _best_matching_weight(edges: list[tuple[int, int, float]]) -> float:
    """Brute force: the largest total weight of a set of edges sharing no endpoint."""
    import itertools

    best = 0.0
    for r in range(len(edges) + 1):
        for subset in itertools.combinations(edges, r):
            lefts = [e[0] for e in subset]
            rights = [e[1] for e in subset]
            if len(set(lefts)) == r and len(set(rights)) == r:
                best = max(best, sum(e[2] for e in subset))
    return best


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.floats(0.1, 20)),
                min_size=1, max_size=8, unique_by=lambda e: (e[0], e[1])))
def test_one_to_one_is_optimal_on_small_groups(edges: list[tuple[int, int, float]]) -> None:
    from linkage.matching import one_to_one

    a = np.asarray([e[0] for e in edges])
    b = np.asarray([e[1] for e in edges])
    w = np.asarray([e[2] for e in edges])
    kept = one_to_one(a, b, w)
    assert len(set(a[kept])) == kept.sum() and len(set(b[kept])) == kept.sum()
    assert w[kept].sum() == pytest.approx(_best_matching_weight(edges))
    # large groups fall back to greedy, still a matching
    greedy = one_to_one(a, b, w, max_optimal=1)
    assert len(set(a[greedy])) == greedy.sum() and len(set(b[greedy])) == greedy.sum()


def test_optimal_beats_greedy_when_it_should() -> None:
    from linkage.matching import one_to_one

    # greedy takes a0-b0 (10) and then nothing; optimal takes a0-b1 + a1-b0 (18)
    a, b, w = np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([10.0, 9.0, 9.0])
    assert greedy_one_to_one(a, b, w).tolist() == [True, False, False]
    assert one_to_one(a, b, w).tolist() == [False, True, True]


def _one_source(given: list[int], dob: list[int], flip: float = 0.0) -> EncodedSource:
    n = len(given)
    names = ("given_name", "date_of_birth")
    hints = ComparisonHints(flip_probability={"given_name": flip} if flip else {})
    return EncodedSource("p", np.array([f"r{i}" for i in range(n)]),
                         np.zeros((n, 1), np.uint64),
                         {"given_name": np.array([[g] for g in given], np.uint64),
                          "date_of_birth": np.array([[d] for d in dob], np.uint64)},
                         np.zeros((n, 2), bool), names,
                         {"given_name": FieldKind.NAME, "date_of_birth": FieldKind.DATE},
                         np.zeros((n, 0), np.uint64), (), hints)


def test_dedup_gate_stops_twins_but_not_duplicates_with_a_mistyped_date() -> None:
    # 0~1 twins (same date, other given name); 0~2 a duplicate whose date was mistyped
    # (its salted name cannot be compared); 0~3 a duplicate with the same name and date
    source = _one_source([0b1111, 0b1111 << 8, 0b1 << 20, 0b1111], [0b111, 0b111, 0b1000, 0b111])
    left, right = np.zeros(3, np.int64), np.arange(1, 4)
    probability = np.full(3, 0.9)
    chosen = select_links(source, source, left, right, np.ones(3), probability,
                          threshold=0.5, gate=DedupGate())
    assert chosen.tolist() == [False, True, True]
    strict = select_links(source, source, left, right, np.ones(3), probability,
                          threshold=0.5, gate=DedupGate(twins_share=None))
    assert strict.tolist() == [False, False, True]


def _source_with_homes(given: list[int], dob: list[int], home: list[int]) -> EncodedSource:
    n = len(given)
    names = ("given_name", "date_of_birth", "postcode")
    filters = {"given_name": np.array([[g] for g in given], np.uint64),
               "date_of_birth": np.array([[d] for d in dob], np.uint64),
               "postcode": np.array([[h] for h in home], np.uint64)}
    missing = np.zeros((n, 3), bool)
    missing[:, 2] = [h == 0 for h in home]
    return EncodedSource("p", np.array([f"r{i}" for i in range(n)]),
                         np.zeros((n, 1), np.uint64), filters, missing, names,
                         {"given_name": FieldKind.NAME, "date_of_birth": FieldKind.DATE,
                          "postcode": FieldKind.POSTCODE},
                         np.zeros((n, 0), np.uint64), (), ComparisonHints())


def test_dedup_gate_checks_given_names_only_where_date_and_home_are_shared() -> None:
    # record 0 and: 1 twin at home (other name), 2 born the same day elsewhere with another
    # given name (a re-registration after a move: the probability decides), 3 the same at
    # an unknown home (could be a twin: refused), 4 at home with a middle name added
    # (Harry / Harry Sebastian: the shorter name's bits all inside the longer's)
    source = _source_with_homes(
        given=[0b1111, 0b1111 << 8, 0b1111 << 16, 0b1111 << 24, 0b1111_1111],
        dob=[0b111] * 5, home=[0b11, 0b11, 0b11 << 4, 0, 0b11])
    left, right = np.zeros(4, np.int64), np.arange(1, 5)
    probability = np.full(4, 0.9)
    chosen = select_links(source, source, left, right, np.ones(4), probability,
                          threshold=0.5, gate=DedupGate())
    assert chosen.tolist() == [False, True, False, True]
    dice_only = DedupGate(contained_at=None)
    assert select_links(source, source, left, right, np.ones(4), probability, threshold=0.5,
                        gate=dice_only).tolist() == [False, True, False, False]
    date_only = DedupGate(home_field=None)
    assert select_links(source, source, left, right, np.ones(4), probability, threshold=0.5,
                        gate=date_only).tolist() == [False, False, False, True]
    below = np.array([0.9, 0.4, 0.9, 0.9])  # at another home, the probability still decides
    assert not select_links(source, source, left, right, np.ones(4), below,
                            threshold=0.5, gate=DedupGate())[1]


def test_calibration_table_bins_predictions() -> None:
    predicted = np.array([0.05, 0.05, 0.95, 0.95, 0.95, 0.95, 0.55])
    is_match = np.array([False, False, True, True, True, False, True])
    table = calibration_table(predicted, is_match)
    assert table.pairs.tolist() == [2, 1, 4]
    assert table.observed.tolist() == [0.0, 1.0, 0.75]
    assert table.gap.round(4).tolist() == [-0.05, 0.45, -0.2]
    with pytest.raises(InputDataError):
        calibration_table(predicted, is_match[:-1])
    # each observed share within its 95% interval; a bin of one pair is nearly 0..1 wide
    assert ((table.observed_low <= table.observed) & (table.observed <= table.observed_high)).all()
    assert table.observed_high[1] - table.observed_low[1] > 0.75


def test_wilson_interval_matches_the_textbook_value() -> None:
    low, high = wilson_interval(np.array([0.5, 0.0, 0.3]), np.array([10, 0, 1000]))
    assert low[0] == pytest.approx(0.2366, abs=1e-4) and high[0] == pytest.approx(0.7634, abs=1e-4)
    assert (low[1], high[1]) == (0.0, 1.0)  # no pairs: nothing known
    assert high[2] - low[2] < 0.06  # many pairs: narrow


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60))
def test_calibration_excess_is_zero_inside_the_interval_and_positive_outside(
        pairs: list[tuple[float, bool]]) -> None:
    predicted = np.array([p for p, _ in pairs])
    is_match = np.array([m for _, m in pairs])
    table = calibration_table(predicted, is_match)
    excess = calibration_excess(table)
    inside = (table.observed_low <= table.predicted) & (table.predicted <= table.observed_high)
    assert (excess[inside] == 0).all()
    assert (excess[~inside] > 0).all()
    assert (excess <= table.gap.abs() + 1e-12).all()


def test_calibrated_max_gap_is_sampling_noise_and_shrinks_with_the_pairs() -> None:
    def table(predicted: np.ndarray) -> pd.DataFrame:  # (the outcomes do not matter)
        return calibration_table(predicted, np.zeros(len(predicted), dtype=bool))

    # one bin of n pairs at p: the largest gap is |binomial(n, p) / n - p|, whose median is
    # about 0.674 * sqrt(p (1 - p) / n)
    median_few, high_few = calibrated_max_gap(table(np.full(25, 0.45)))
    assert median_few == pytest.approx(0.674 * np.sqrt(0.45 * 0.55 / 25), abs=0.03)
    assert median_few < high_few < 0.25
    median_many, high_many = calibrated_max_gap(table(np.full(100_000, 0.45)))
    assert median_many < 0.002 and high_many < 0.004
    # certain predictions leave nothing to chance; an empty table has no gap
    assert calibrated_max_gap(table(np.r_[np.zeros(50), np.ones(50)])) == (0.0, 0.0)
    assert calibrated_max_gap(table(np.zeros(0))) == (0.0, 0.0)
    # the largest over several small bins exceeds one bin's
    spread = np.repeat([0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85], 25)
    assert calibrated_max_gap(table(spread))[0] > median_few
    assert calibrated_max_gap(table(spread), seed=3) == calibrated_max_gap(table(spread), seed=3)


def test_dedup_never_joins_records_with_different_nhs_numbers() -> None:
    n = 4
    names = ("given_name", "date_of_birth", "nhs_number")
    filters = {"given_name": np.full((n, 1), 0b1111, np.uint64),
               "date_of_birth": np.full((n, 1), 0b111, np.uint64),
               "nhs_number": np.array([[1], [1], [2], [0]], np.uint64)}
    missing = np.zeros((n, 3), bool)
    missing[3, 2] = True  # no NHS number on record 3
    source = EncodedSource("p", np.array([f"r{i}" for i in range(n)]),
                           np.zeros((n, 1), np.uint64), filters, missing, names,
                           {"given_name": FieldKind.NAME, "date_of_birth": FieldKind.DATE,
                            "nhs_number": FieldKind.NHS_NUMBER}, np.zeros((n, 0), np.uint64),
                           (), ComparisonHints())
    left, right = np.zeros(3, np.int64), np.arange(1, 4)
    chosen = select_links(source, source, left, right, np.ones(3), np.full(3, 0.99),
                          threshold=0.5, gate=DedupGate())
    assert chosen.tolist() == [True, False, True]  # same number, different, one missing
    assert select_links(source, source, left, right, np.ones(3), np.full(3, 0.99),
                        threshold=0.5, gate=DedupGate(different_if=())).tolist() == [True] * 3


@pytest.mark.parametrize("gate", [DedupGate(contained_at=1.5), DedupGate(noisy_min_similarity=-0.1),
                                  DedupGate(min_similarity=True)])  # type: ignore[arg-type]
def test_linker_refuses_a_dedup_gate_out_of_range(gate: DedupGate) -> None:
    from linkage.errors import MatchingError
    from linkage.matching import Linker

    with pytest.raises(MatchingError, match="dedup_gate"):
        Linker(dedup_gate=gate)
    Linker(dedup_gate=DedupGate(contained_at=None))  # Dice only: allowed
