import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import MatchingError, NotFittedError
from linkage.matching import FellegiSunter, match_probability
from linkage.matching.candidates import SaltSample
from linkage.matching.comparison import FieldComparison
from linkage.matching.patterns import PatternCounts
from linkage.matching.scoring import estimate_coverage, one_match_weights


def simulate(rng: np.random.Generator, n_match: int, n_non: int,
             m: list[list[float]], u: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for count, probs, label in ((n_match, m, 1), (n_non, u, 0)):
        cols = [rng.choice(len(p), size=count, p=p) for p in probs]
        rows.append(np.stack(cols, axis=1))
        labels.append(np.full(count, label))
    return np.vstack(rows).astype(np.int8), np.concatenate(labels)


M = [[0.9, 0.07, 0.03], [0.85, 0.1, 0.05], [0.95, 0.05], [0.8, 0.15, 0.05]]
U = [[0.02, 0.08, 0.9], [0.05, 0.15, 0.8], [0.5, 0.5], [0.01, 0.09, 0.9]]


def test_em_recovers_m_and_lambda_and_is_calibrated() -> None:
    rng = np.random.default_rng(1)
    total = 4_000_000
    everything, all_labels = simulate(rng, 3_000, total - 3_000, M, U)
    # blocking as in practice: candidates agree (at least partly) on a blocked field
    candidate = (everything[:, 0] <= 1) | (everything[:, 3] == 0)
    levels, labels = everything[candidate], all_labels[candidate]
    random_levels = everything[rng.integers(0, total, 100_000)]
    model = FellegiSunter((3, 3, 2, 3)).fit(levels, random_levels, total_pairs=total)
    for f in (1, 2):  # fields not used for blocking: m recovered directly
        assert np.allclose(model.m_[f], M[f], atol=0.03)
    # a few matches with weak evidence look like non-matches, so lambda is a little low
    assert model.lambda_ == pytest.approx(3_000 / total, rel=0.15)
    # calibration: among pairs given probability in a bin, the share of matches agrees
    p = model.predict_proba(levels)
    for lo, hi in ((0.0, 0.2), (0.8, 1.01)):
        sel = (p >= lo) & (p < hi)
        assert abs(labels[sel].mean() - p[sel].mean()) < 0.05


def test_missing_levels_are_neutral() -> None:
    rng = np.random.default_rng(2)
    levels, _ = simulate(rng, 500, 5_000, M, U)
    random_levels, _ = simulate(rng, 0, 20_000, M, U)
    model = FellegiSunter((3, 3, 2, 3)).fit(levels, random_levels, total_pairs=100_000)
    row = np.array([[0, 0, -1, 0]], dtype=np.int8)
    contributions = model.contributions(row)
    assert contributions[0, 2] == 0.0
    assert model.match_weights(row)[0] == pytest.approx(
        contributions.sum() + model.prior_weight)


def test_not_fitted_and_bad_shapes() -> None:
    model = FellegiSunter((3, 2))
    with pytest.raises(NotFittedError):
        model.predict_proba(np.zeros((1, 2), np.int8))
    with pytest.raises(MatchingError, match="levels must be"):
        model.fit(np.zeros((3, 3), np.int8), np.zeros((3, 3), np.int8), total_pairs=10)


def test_comparison_levels() -> None:
    comp = FieldComparison("given_name", (0.95, 0.8, 0.5))
    sim = np.array([1.0, 0.95, 0.9, 0.6, 0.1, 0.99], dtype=np.float32)
    missing = np.array([False] * 5 + [True])
    assert comp.levels(sim, missing).tolist() == [0, 0, 1, 2, 3, -1]
    with pytest.raises(MatchingError, match="decreasing"):
        FieldComparison("x", (0.5, 0.8))


def test_max_matches_caps_the_prior() -> None:
    rng = np.random.default_rng(4)
    levels, _ = simulate(rng, 2_000, 20_000, M, U)
    random_levels, _ = simulate(rng, 0, 20_000, M, U)
    free = FellegiSunter((3, 3, 2, 3)).fit(levels, random_levels, total_pairs=1_000_000)
    capped = FellegiSunter((3, 3, 2, 3)).fit(levels, random_levels, total_pairs=1_000_000,
                                             max_matches=500)
    assert free.lambda_ * 1_000_000 > 1_000
    assert capped.lambda_ * 1_000_000 <= 500 + 1e-6



def test_em_sets_siblings_apart_when_the_match_share_hits_its_ceiling() -> None:
    """Households: non-matches agreeing on fields 1 and 3 together (a family name and an
    address), disagreeing on field 0 (the given name), as many as the matches. With one
    match per record, a two-class fit reaches its ceiling and takes them in; the refit
    with a household class recovers the matches' m."""
    rng = np.random.default_rng(2)
    total, matches, siblings = 4_000_000, 3_000, 3_000
    household = [[0.02, 0.08, 0.9], [0.9, 0.07, 0.03], [0.5, 0.5], [0.9, 0.08, 0.02]]
    everything, _ = simulate(rng, matches, total - matches - siblings, M, U)
    sibling_rows, _ = simulate(rng, siblings, 0, household, U)
    candidate = (everything[:, 0] <= 1) | (everything[:, 3] == 0)
    levels = np.vstack([everything[candidate], sibling_rows])
    random_levels = everything[rng.integers(0, len(everything), 100_000)]
    two = FellegiSunter((3, 3, 2, 3))
    two._em(PatternCounts.of(levels), random_levels, total_pairs=total,
            max_matches=3_100, fixed_m=None)
    assert two.capped_ and two.m_[0][0] < 0.7  # siblings in the match class
    model = FellegiSunter((3, 3, 2, 3)).fit(levels, random_levels, total_pairs=total,
                                            max_matches=3_100)
    assert model.households_ is not None
    assert model.m_[0][0] > 0.85  # (field 0 is blocked on, so a little above M's 0.9)
    for f in (1, 2):  # not blocked on
        assert np.allclose(model.m_[f], M[f], atol=0.05)
    # matches with weak evidence fall to the other classes, so the share is a little low
    assert model.lambda_ * total == pytest.approx(matches, rel=0.2)
    h, share = model.households_
    assert h[0][0] < 0.1 and h[1][0] > 0.8 and share * total == pytest.approx(siblings, rel=0.3)
    # a salted model (salt samples given) is left as the two classes fitted it
    salted = FellegiSunter((3, 3, 2, 3), salt_rounds=0).fit(
        levels, random_levels, total_pairs=total, max_matches=3_100,
        salt_samples=[SaltSample(random_levels[:10], (0,))])
    assert salted.households_ is None

def test_mixture_u_separates_matches_from_a_salt_agreeing_sample() -> None:
    """Random pairs whose salt agrees hold many matches; holding m, the model's u of the
    salted field comes out as the non-matches' own, not the sample's raw shares."""
    rng = np.random.default_rng(5)
    total = 2_000_000
    everything, _ = simulate(rng, 3_000, total - 3_000, M, U)
    levels = everything[(everything[:, 0] <= 1) | (everything[:, 3] == 0)]
    random_levels = everything[rng.integers(0, total, 100_000)]
    model = FellegiSunter((3, 3, 2, 3)).fit(levels, random_levels, total_pairs=total)
    sample, _ = simulate(rng, 2_000, 8_000, M, U)  # 20% matches, as a salt makes
    sample[:, 2] = -1  # the salt's own field: the same in every pair, no evidence
    raw = np.bincount(sample[:, 1], minlength=3) / len(sample)
    assert raw[0] > U[1][0] + 0.1  # the naive estimate is far off
    estimated = model.mixture_u(sample, [1])
    assert set(estimated) == {1}
    assert np.allclose(estimated[1], U[1], atol=0.02)
    # fit does the same in its salt rounds: u of the salted field from the sample
    refit = FellegiSunter((3, 3, 2, 3), salt_rounds=1).fit(
        levels, random_levels, total_pairs=total, salt_samples=[SaltSample(sample, (1,))])
    assert np.array_equal(refit.u_[1], estimated[1])
    assert np.allclose(refit.u_[0], model.u_[0])  # the other fields' u from random pairs


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.booleans()), min_size=1,
                max_size=50), st.integers(1, 2))
def test_containment_level_only_below_the_agreeing_levels(
        rows: list[tuple[float, float, bool]], agreeing: int) -> None:
    # under BLIP noise (two agreeing levels) the debiased overlap of two filters of one
    # name is near 1 as well: a name on its second level stays there (measured, hard
    # cohort: 12% of identical given names had been put on the containment level)
    comp = FieldComparison("family_name", (0.9, 0.8, 0.7), contained_at=0.9,
                           agreeing_levels=agreeing)
    sim = np.array([r[0] for r in rows], np.float32)
    overlap = np.array([r[1] for r in rows], np.float32)
    missing = np.array([r[2] for r in rows])
    levels = comp.levels(sim, missing, overlap)
    plain = FieldComparison("family_name", (0.9, 0.8, 0.7)).levels(sim, missing)
    assert comp.n_levels == 5 and levels.max(initial=-1) < comp.n_levels
    contained = levels == 4
    assert np.array_equal(contained, (plain >= agreeing) & (overlap >= 0.9) & ~missing)
    assert np.array_equal(levels[~contained], plain[~contained])


def _one_match_reference(weights: np.ndarray, records: np.ndarray, coverage: float
                         ) -> np.ndarray:
    """The formula of one_match_weights, spelt out pair by pair in float64 (precise while
    1 - P is well above float64 rounding: weights up to about 20)."""
    odds = np.exp2(weights)
    out = np.empty(len(weights))
    for k in range(len(weights)):
        total = odds[records == records[k]].sum()
        p = odds[k] / ((1 - coverage) + total)
        out[k] = np.log2(p / (1 - p))
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(-30, 20), st.integers(0, 4)), min_size=1, max_size=30),
       st.floats(0.0, 0.99))
def test_one_match_weights_match_the_formula(pairs: list[tuple[float, int]],
                                             coverage: float) -> None:
    weights = np.array([w for w, _ in pairs])
    records = np.array([r for _, r in pairs], np.int64)
    got = one_match_weights(weights, records, 5, coverage=coverage)
    want = _one_match_reference(weights, records, coverage)
    assert np.allclose(got, want, atol=1e-6, rtol=1e-9)


def test_one_match_weights_lift_a_lone_candidate_and_split_a_contest() -> None:
    lone = one_match_weights(np.array([-3.0]), np.array([0]), 1, coverage=0.98)
    assert match_probability(lone)[0] == pytest.approx(0.125 / (0.02 + 0.125))
    contest = one_match_weights(np.array([10.0, 10.0]), np.array([0, 0]), 1, coverage=0.98)
    assert np.allclose(match_probability(contest), 0.5, atol=1e-3)
    # a record nobody expects to match (coverage 0) keeps the plain odds when alone
    alone = one_match_weights(np.array([2.0]), np.array([0]), 1, coverage=0.0)
    assert alone[0] == pytest.approx(2.0)


def test_one_match_weights_survive_extreme_weights() -> None:
    weights = np.array([1000.0, 299.0, -1000.0, 5.0])
    got = one_match_weights(weights, np.array([0, 0, 1, 1]), 2, coverage=0.5)
    assert np.isfinite(got).all()
    assert got[0] > 0 > got[1] and got[2] < -200


def test_dedup_takes_each_fields_m_from_a_model_that_compared_it() -> None:
    from linkage.matching.clustering import PairLinks
    from linkage.matching.linker import PairModel, _donor_m

    def model(partners: tuple[str, str], pairs: int, m: list[list[float]],
              compared: list[int]) -> PairModel:
        fitted = FellegiSunter((2, 2))
        fitted.m_ = [np.array(x) for x in m]
        empty = np.zeros(0, np.int64)
        links = PairLinks(*partners, empty, empty, np.zeros(0), np.zeros(0))
        return PairModel(fitted, [None] * pairs, links, np.zeros(0),  # type: ignore[arg-type]
                         compared=np.array(compared, np.int64))

    # health~education never compares the NHS number (field 1): education has none
    big = model(("health", "education"), 1000, [[0.9, 0.1], [0.5, 0.5]], [1000, 0])
    small = model(("health", "social_care"), 100, [[0.8, 0.2], [0.97, 0.03]], [100, 60])
    m = _donor_m([big, small], "health")
    assert m is not None
    assert m[0].tolist() == [0.9, 0.1] and m[1].tolist() == [0.97, 0.03]
    only = _donor_m([big], "education")
    assert only is not None and only[1].tolist() == [0.5, 0.5]  # no model compared it


def test_coverage_is_estimated_per_record_whatever_the_prior() -> None:
    rng = np.random.default_rng(4)
    n, n_other, prior = 2_000, 50_000, -16.0
    has_match = rng.random(n) < 0.7
    # each record: a few weak candidates (namesakes); its match, if any, scores high
    records = np.repeat(np.arange(n), 3)
    weights = rng.normal(-25.0, 3.0, len(records)) + prior + 16  # LR around 2**-9
    strong = np.flatnonzero(has_match)
    records = np.r_[records, strong]
    weights = np.r_[weights, rng.normal(30.0, 4.0, len(strong)) + prior]
    for shifted_prior in (prior, prior + 8):  # a prior pushed up by EM changes nothing
        c = estimate_coverage(weights - prior + shifted_prior, records, n, n_other=n_other,
                              prior_weight=shifted_prior)
        assert c == pytest.approx(has_match.mean(), abs=0.01)
    assert estimate_coverage(np.zeros(0), np.zeros(0, np.int64), 10, n_other=5,
                             prior_weight=-3.0) == 0.0


def test_em_counts_a_complete_fields_agreement_among_the_candidates() -> None:
    """A blocking pass's token equality: every agreeing pair is a candidate, and random
    pairs almost never agree (their u sits at the sampling floor, far too high). Counted
    among the candidates with each pair's posterior *without* the field, u lies between
    the truth and the share of all agreeing pairs: not at EM's fixed point far below the
    truth, where the agreeing pairs count as matches because u is small."""
    rng = np.random.default_rng(7)
    total, matches = 4_000_000, 3_000
    strong = [[0.97, 0.02, 0.01], [0.97, 0.02, 0.01], [0.95, 0.05], [0.97, 0.02, 0.01]]
    token_m, token_u = [0.3, 0.7], [2e-6, 1 - 2e-6]
    everything, labels = simulate(rng, matches, total - matches, [*strong, token_m],
                                  [*U, token_u])
    candidate = (everything[:, 0] <= 1) | (everything[:, 3] == 0) | (everything[:, 4] == 0)
    levels = everything[candidate]
    random_levels = everything[rng.integers(0, total, 100_000)]
    agreeing = everything[:, 4] == 0
    truth = max(int((agreeing & (labels == 0)).sum()), 1) / total

    sampled = FellegiSunter((3, 3, 2, 3, 2)).fit(levels, random_levels, total_pairs=total)
    counted = FellegiSunter((3, 3, 2, 3, 2)).fit(levels, random_levels, total_pairs=total,
                                                 complete_fields=[4])
    assert sampled.u_[4][0] >= 5e-6  # the floor of 100,000 random pairs
    assert truth / 2 <= counted.u_[4][0] <= int(agreeing.sum()) / total
    assert counted.u_[4][0] < sampled.u_[4][0] / 2
    assert counted.u_[4].sum() == pytest.approx(1.0)
    assert np.allclose(counted.m_[4], token_m, atol=0.03)
    # the other fields' u still come from the random pairs
    for f in range(4):
        assert np.array_equal(counted.u_[f], sampled.u_[f])
