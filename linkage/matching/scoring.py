"""Fellegi-Sunter scoring with m and u estimated by EM, giving calibrated probabilities.

Under conditional independence, a candidate pair with comparison levels ``l_f`` has
Bayes factor ``prod_f m_f[l_f] / u_f[l_f]``; with the prior ``lambda`` (the share of
candidate pairs that match) the match probability is
``lambda * prod m / (lambda * prod m + (1 - lambda) * prod u)``. Missing fields (level -1)
contribute nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from linkage.errors import MatchingError, NotFittedError
from linkage.matching.candidates import SaltSample
from linkage.matching.patterns import PatternCounts, distinct_patterns
from linkage.matching.uniques import distinct_with_inverse

_FLOOR = 1e-6
#: EM's match share at this fraction of its one-match-per-record ceiling counts as having
#: reached it (see :meth:`FellegiSunter.fit_counts`)
CAPPED_SHARE = 0.99
#: the third class is kept only if it moves some field's top-level m by more than this:
#: where the two-class fit was sound it moved m by 0.04 at most (hard profile, 200,000
#: children, unhardened) and, always kept, cost up to 0.7 F1 points (1,000,000); where
#: siblings had been taken in, it moved m by 0.26-0.34
HOUSEHOLD_SHIFT = 0.1


def match_probability(weights: np.ndarray | float) -> np.ndarray:
    """Match weight (log2 odds, prior included) -> calibrated probability ``1/(1+2^-w)``.

    ``weights`` (P,) float64 -> (P,) float64 in [0, 1]. The one place this formula lives.
    """
    return 1.0 / (1.0 + np.exp2(-np.clip(np.asarray(weights, dtype=np.float64), -1000, 1000)))


def probability_weight(probability: float) -> float:
    """The match weight at which :func:`match_probability` reaches ``probability``."""
    return float(np.log2(probability / (1.0 - probability)))


def _level_probabilities(patterns: np.ndarray, weights: np.ndarray,
                         n_levels: tuple[int, ...], smoothing: float) -> list[np.ndarray]:
    """Per field, the weighted share of each level among non-missing patterns."""
    out = []
    for f, n in enumerate(n_levels):
        col = patterns[:, f]
        present = col >= 0
        sums = np.bincount(col[present], weights=weights[present], minlength=n)[:n] + smoothing
        out.append(np.maximum(sums / sums.sum(), _FLOOR))
    return out


def _complete_u(u: np.ndarray, levels: np.ndarray, non_match: np.ndarray,
                non_match_pairs: float) -> np.ndarray:
    """u of a complete field (see :meth:`FellegiSunter.fit`): level 0's share is the
    candidates' expected non-matches there (``non_match`` (K,) weights of the patterns, whose
    levels of the field are ``levels`` (K,)) over ``non_match_pairs``, the non-match pairs
    of the whole pair space in which the field is compared; at least half a pair, at most
    one half. The other levels share the rest in ``u``'s proportions."""
    agree = float(non_match[levels == 0].sum())
    top = min(max(agree, 0.5) / max(non_match_pairs, 1.0), 0.5)
    rest = u[1:] / max(float(u[1:].sum()), _FLOOR)
    return np.r_[top, rest * (1.0 - top)]


def _logistic(log_odds: np.ndarray) -> np.ndarray:
    """Natural log odds -> probability (clipped: no overflow)."""
    return 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))


class FellegiSunter:
    """Fellegi-Sunter model; ``fit`` learns ``m_``, ``u_`` and ``lambda_`` without labels.

    Parameters
    ----------
    n_levels : number of comparison levels of each field (level 0 = closest agreement).
    max_iter, tol : EM stopping rule (largest change of any parameter).
    salt_rounds : rounds of (u of salted fields from salt-agreeing samples, then EM again)
        when ``fit`` is given salt samples.
    """

    def __init__(self, n_levels: tuple[int, ...], *, max_iter: int = 200,
                 tol: float = 1e-6, salt_rounds: int = 3) -> None:
        self.n_levels = tuple(n_levels)
        self.max_iter = max_iter
        self.tol = tol
        self.salt_rounds = salt_rounds
        #: fields whose agreement EM counts among the candidates (see :meth:`fit`)
        self.complete_fields: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return f"FellegiSunter(n_levels={self.n_levels}, max_iter={self.max_iter})"

    def _check(self, levels: np.ndarray, what: str) -> np.ndarray:
        levels = np.asarray(levels)
        if levels.ndim != 2 or levels.shape[1] != len(self.n_levels):
            raise MatchingError(f"{what} must be (pairs, {len(self.n_levels)}) levels; got "
                                f"shape {levels.shape}.")
        if len(levels) and (levels.max(axis=0) >= np.asarray(self.n_levels)).any():
            raise MatchingError(f"{what} holds a level beyond a field's number of levels.")
        return levels

    def fit(self, levels: np.ndarray, random_levels: np.ndarray, *, total_pairs: int,
            max_matches: int | None = None,
            fixed_m: list[np.ndarray] | None = None,
            salt_samples: Sequence[SaltSample] = (),
            complete_fields: Sequence[int] = ()) -> FellegiSunter:
        """Learn ``m_``, ``u_`` and ``lambda_`` without labels.

        ``levels`` (P, F) int8: the candidate pairs from blocking. ``random_levels`` (Q, F):
        random record pairs, almost all non-matches, which give ``u_`` (held fixed).
        ``total_pairs``: the number of all possible pairs (e.g. ``n_a * n_b``).

        EM runs over the whole pair space: pairs that blocking did not propose count as
        non-matches, so ``lambda_`` is the share of *all* pairs that match. Estimating it on
        the candidates alone would be biased, because blocking makes candidate non-matches
        agree on the blocked fields far more often than ``u_`` says.

        ``max_matches``: an upper bound on the number of matching pairs, e.g. the size of
        the smaller source when each record has at most one match in the other. It caps
        ``lambda_``. Without it, in a dense population EM can explain the many namesakes
        (same names, another birth date) as matches: given and family names are not
        independent among non-matches (names cluster by origin), which the model assumes.

        ``fixed_m``: known m probabilities (e.g. from a model of another pair of sources);
        then only ``lambda_`` is estimated. Deduplication uses this: duplicates are too rare
        within a source for EM to find them among namesakes and twins.

        ``salt_samples``: random pairs whose salt agrees (one sample per salt). A salted
        field is compared only where its salt agrees, so random pairs almost never give its
        ``u``; after a first fit, ``salt_rounds`` times, the u of each salted field is taken
        from its sample with the matches in it separated by the model (:meth:`mixture_u`),
        and EM runs again with those u held fixed.

        ``complete_fields``: fields whose top level (level 0) occurs only among the
        candidates, such as the equality of a blocking pass's own tokens (every pair with
        equal tokens is a candidate). Their agreement is far too rare among random pairs to
        be counted there (200,000 random pairs put a floor of 5e-6 under ``u``, where the
        truth is nearer 1e-8, and the field then weighed some 9 bits too little); so EM
        estimates it over the whole pair space instead: the non-matches expected at level 0
        among the candidates, over the non-match pairs in which the field is compared (the
        random pairs give that share). The other levels keep the random pairs' proportions.
        Blocks skipped for their size are not counted, which can only lower the estimate.
        """
        return self.fit_counts(PatternCounts.of(self._check(levels, "levels")), random_levels,
                               total_pairs=total_pairs, max_matches=max_matches,
                               fixed_m=fixed_m, salt_samples=salt_samples,
                               complete_fields=complete_fields)

    def fit_counts(self, counted: PatternCounts, random_levels: np.ndarray, *,
                   total_pairs: int, max_matches: int | None = None,
                   fixed_m: list[np.ndarray] | None = None,
                   salt_samples: Sequence[SaltSample] = (),
                   complete_fields: Sequence[int] = ()) -> FellegiSunter:
        """:meth:`fit` on the candidates' comparison patterns and their counts instead of
        the pairs themselves (EM needs nothing else): what a cluster's workers send back.

        **Households.** When the match share reaches its ceiling (``max_matches``) and no
        field is salted, the match class has probably taken in a second kind of pair that
        agrees on several fields together: siblings, who share a family name and an
        address (with distinctive family names, EM took them for matches: F1 0.86 on a
        cohort measured). EM then runs again with a third class of such non-matches
        (:attr:`households_`), and ``m_`` is the match class's if that moves some field's
        top-level m by more than :data:`HOUSEHOLD_SHIFT`. Salted names are compared
        only where the birth dates agree, which siblings' do not, so a salted model is left
        as fitted (there a third class split off true matches with a mistyped date)."""
        self._check(counted.patterns, "patterns")
        self.complete_fields = tuple(int(f) for f in complete_fields)
        self._em(counted, random_levels, total_pairs=total_pairs, max_matches=max_matches,
                 fixed_m=fixed_m)
        #: the third class when EM needed one (level probabilities, share of all pairs)
        self.households_: tuple[list[np.ndarray], float] | None = None
        if fixed_m is None and not salt_samples and self.capped_:
            self._em_with_households(counted, total_pairs=total_pairs)
        for _ in range(self.salt_rounds if salt_samples else 0):
            fixed_u: dict[int, np.ndarray] = {}
            for sample in salt_samples:
                fixed_u.update(self.mixture_u(sample.levels, list(sample.salted_columns)))
            self._em(counted, random_levels, total_pairs=total_pairs, max_matches=max_matches,
                     fixed_m=fixed_m, fixed_u=fixed_u)
        return self

    def _em(self, counted: PatternCounts, random_levels: np.ndarray, *, total_pairs: int,
            max_matches: int | None, fixed_m: list[np.ndarray] | None,
            fixed_u: dict[int, np.ndarray] | None = None) -> None:
        """One EM fit of ``m_`` and ``lambda_`` with ``u_`` from the random pairs, except the
        fields in ``fixed_u`` (field index -> u probabilities)."""
        pairs = counted.total
        if pairs == 0:
            raise MatchingError("Cannot fit the model: there are no candidate pairs.")
        if total_pairs < pairs:
            raise MatchingError("total_pairs must be at least the number of candidate pairs.")
        patterns, counts = counted.patterns, counted.counts.astype(np.float64)
        rp, rc, _ = distinct_patterns(self._check(random_levels, "random_levels"))
        u = _level_probabilities(rp, rc, self.n_levels, smoothing=1.0)
        for f, probabilities in (fixed_u or {}).items():
            u[f] = np.asarray(probabilities, dtype=np.float64)
        # the share of (random, so non-match) pairs in which each complete field is compared
        complete = {f: float(rc[rp[:, f] >= 0].sum()) / max(float(rc.sum()), 1.0)
                    for f in self.complete_fields if f not in (fixed_u or {})}
        m = (self._starting_m() if fixed_m is None
             else [np.asarray(x, dtype=np.float64) for x in fixed_m])
        cap = 0.5 if max_matches is None else min(0.5, max(max_matches, 1) / total_pairs)
        lam = min(cap / 2, pairs / total_pairs / 10)
        self.n_iter_ = 0
        for iteration in range(1, self.max_iter + 1):
            log_ratio = self._log_odds(patterns, m, u, lam)
            g = _logistic(log_ratio)
            for f, compared in complete.items():  # (in field order, with this round's u)
                # the posterior without the field itself: with it, pairs that agree on it
                # and on little else (namesakes born a day apart) would count as matches
                # because u is small, and keep u small (a fixed point far below the truth)
                own = self._log_bayes(patterns[:, f:f + 1], m[f:f + 1], u[f:f + 1])
                g_without = _logistic(log_ratio - own)
                u[f] = _complete_u(u[f], patterns[:, f], counts * (1 - g_without),
                                   (total_pairs - float((counts * g).sum())) * compared)
                log_ratio = log_ratio - own + self._log_bayes(patterns[:, f:f + 1],
                                                              m[f:f + 1], u[f:f + 1])
            new_m = (_level_probabilities(patterns, counts * g, self.n_levels, smoothing=1e-3)
                     if fixed_m is None else m)
            new_lam = float(np.clip((counts * g).sum() / total_pairs, 1e-12, cap))
            change = max(abs(new_lam - lam) / lam,
                         max(float(np.abs(a - b).max()) for a, b in zip(new_m, m, strict=True)))
            m, lam = new_m, new_lam
            self.n_iter_ = iteration
            if change < self.tol:
                break
        self.m_, self.u_, self.lambda_ = m, u, lam
        self.cap_ = cap
        #: the match share reached the one-match-per-record ceiling (see fit_counts)
        self.capped_ = lam >= CAPPED_SHARE * cap

    def _starting_m(self) -> list[np.ndarray]:
        """Where EM starts: each field's top level at 0.9, the rest sharing 0.1."""
        return [np.r_[0.9, np.full(n - 1, 0.1 / (n - 1))] for n in self.n_levels]

    def _em_with_households(self, counted: PatternCounts, *, total_pairs: int) -> None:
        """EM again with a third class beside matches and the random pairs' ``u``:
        non-matches that agree on some fields together (siblings share a family name and
        an address), with level probabilities of their own. ``m_`` and ``lambda_`` become
        the match class's (the class agreeing most at the top levels) when they differ
        enough (:data:`HOUSEHOLD_SHIFT`); the third class is then kept in ``households_``
        (level probabilities, share of all pairs)."""
        patterns, counts = counted.patterns, counted.counts.astype(np.float64)
        n = self.n_levels
        m = self._starting_m()
        h = [0.5 * a + 0.5 * b for a, b in zip(m, self.u_, strict=True)]
        cap = self.cap_
        lam = lam_h = min(cap / 2, counted.total / total_pairs / 10)
        log_u = self._log_bayes(patterns, self.u_)
        for _ in range(self.max_iter):
            log_m = self._log_bayes(patterns, m) + np.log(lam)
            log_h = self._log_bayes(patterns, h) + np.log(lam_h)
            log_0 = log_u + np.log(max(1.0 - lam - lam_h, 1e-12))
            top = np.maximum(np.maximum(log_m, log_h), log_0)
            e_m, e_h, e_0 = np.exp(log_m - top), np.exp(log_h - top), np.exp(log_0 - top)
            g_m, g_h = e_m / (e_m + e_h + e_0), e_h / (e_m + e_h + e_0)
            new_m = _level_probabilities(patterns, counts * g_m, n, smoothing=1e-3)
            new_h = _level_probabilities(patterns, counts * g_h, n, smoothing=1e-3)
            new_lam = float(np.clip((counts * g_m).sum() / total_pairs, 1e-12, cap))
            new_lam_h = float(np.clip((counts * g_h).sum() / total_pairs, 1e-12, 0.5))
            change = max(abs(new_lam - lam) / lam, abs(new_lam_h - lam_h) / lam_h,
                         *(float(np.abs(a - b).max()) for a, b in zip(new_m, m, strict=True)),
                         *(float(np.abs(a - b).max()) for a, b in zip(new_h, h, strict=True)))
            m, h, lam, lam_h = new_m, new_h, new_lam, new_lam_h
            self.n_iter_ += 1
            if change < self.tol:
                break
        if sum(float(x[0]) for x in h) > sum(float(x[0]) for x in m):  # (labels swapped)
            m, h, lam, lam_h = h, m, min(lam_h, cap), lam
        shift = max(abs(float(a[0]) - float(b[0])) for a, b in zip(m, self.m_, strict=True))
        if shift > HOUSEHOLD_SHIFT:  # the two classes had taken the siblings in
            self.m_, self.lambda_ = m, lam
            self.households_ = (h, lam_h)

    def mixture_u(self, sample: np.ndarray, fields: list[int], *,
                  max_iter: int = 200) -> dict[int, np.ndarray]:
        """u of ``fields`` from a sample of pairs that mixes matches and non-matches.

        ``sample`` (Q, F) int8 levels, e.g. random pairs whose salt agrees (where matches
        are common). Holding the fitted ``m_`` and the other fields' ``u_``, EM finds the
        sample's match share and the non-matches' level distribution of ``fields``.
        Returns field index -> u probabilities (for :meth:`fit`'s ``fixed_u``).
        """
        self._fitted()
        sample = self._check(sample, "sample")
        if len(sample) == 0 or not fields:
            return {}
        patterns, counts, _ = distinct_patterns(sample)
        u = [x.copy() for x in self.u_]
        share = 0.1
        for _ in range(max_iter):
            g = self._posterior(patterns, self.m_, u, share)
            new_share = float(np.clip((counts * g).sum() / counts.sum(), 1e-9, 1 - 1e-9))
            estimate = _level_probabilities(patterns, counts * (1 - g), self.n_levels,
                                            smoothing=1.0)
            change = max([abs(new_share - share)]
                         + [float(np.abs(estimate[f] - u[f]).max()) for f in fields])
            share = new_share
            for f in fields:
                u[f] = estimate[f]
            if change < self.tol:
                break
        return {f: u[f] for f in fields}

    def _posterior(self, patterns: np.ndarray, m: list[np.ndarray], u: list[np.ndarray],
                   lam: float) -> np.ndarray:
        return _logistic(self._log_odds(patterns, m, u, lam))

    def _log_odds(self, patterns: np.ndarray, m: list[np.ndarray], u: list[np.ndarray],
                  lam: float) -> np.ndarray:
        """Per pattern, the natural log odds of a match, prior included."""
        return np.log(lam / (1 - lam)) + self._log_bayes(patterns, m, u)

    @staticmethod
    def _log_bayes(levels: np.ndarray, m: list[np.ndarray],
                   u: list[np.ndarray] | None = None) -> np.ndarray:
        """Per pattern, ``log(m/u)`` summed over its present levels (``u`` None: ``log m``,
        the log probability of the pattern under one class)."""
        total = np.zeros(len(levels))
        for f in range(levels.shape[1]):
            col = levels[:, f]
            present = col >= 0
            ratio = np.log(m[f]) if u is None else np.log(m[f]) - np.log(u[f])
            total[present] += ratio[col[present]]
        return total

    def _fitted(self) -> None:
        if not hasattr(self, "m_"):
            raise NotFittedError("This FellegiSunter model is not fitted yet; call fit first.")

    def contributions(self, levels: np.ndarray) -> np.ndarray:
        """Per-field match weights ``log2(m/u)`` of each pair: (P, F) float64 (0 if missing).

        Each field's weights are looked up in a table whose first entry is the missing
        level's 0 (no boolean masks: this is on the update's hot path)."""
        self._fitted()
        levels = self._check(levels, "levels")
        out = np.empty(levels.shape)
        for f in range(levels.shape[1]):
            table = np.r_[0.0, np.log2(self.m_[f] / self.u_[f])]
            out[:, f] = table[levels[:, f].astype(np.intp) + 1]
        return out

    def match_weights(self, levels: np.ndarray) -> np.ndarray:
        """Total match weight ``log2`` Bayes factor of each pair, prior included: (P,)."""
        return self.contributions(levels).sum(axis=1) + self.prior_weight

    @property
    def prior_weight(self) -> float:
        """``log2(lambda / (1 - lambda))``: the weight of the prior alone."""
        self._fitted()
        return float(np.log2(self.lambda_ / (1 - self.lambda_)))

    def predict_proba(self, levels: np.ndarray) -> np.ndarray:
        """Calibrated match probability of each pair: (P,) float64 in [0, 1]."""
        return match_probability(self.match_weights(levels))


def one_match_weights(weights: np.ndarray, records: np.ndarray, n_records: int, *,
                      coverage: float, other_odds: np.ndarray | None = None,
                      groups: np.ndarray | None = None) -> np.ndarray:
    """Match weights of candidate pairs knowing that each record has at most one match.

    The Fellegi-Sunter weight of a pair looks at the pair alone. But a record of the
    smaller source (``records`` (P,) int64, its row in each pair, ``n_records`` rows in
    all) has a match in the larger source with probability ``coverage`` (e.g. ``lambda_``
    times the larger source's size), and then that match is one of its candidates. So with
    the odds ``O = 2**w`` of the pairs, the probability that candidate ``k`` is the match is

        ``P_k = O_k / ((1 - coverage) + sum of O over the record's candidates)``

    (exact when the match, if any, is among the candidates and a priori equally likely to
    be any record of the larger source). A lone candidate with modest odds becomes likely -
    the record's match must be somewhere - and two candidates competing for one record
    share it. ``other_odds`` (n_records,) float64: odds of candidates not in ``weights``
    (pairs a backend dropped under its floor), added to each record's sum.

    ``groups`` (P,) int64: for each pair, the group of its record of the larger source,
    where records of one group are one child (duplicates joined by deduplication): then the
    match is a group, and a pair's probability is its group's (the sum over the group's
    candidates), so two identical duplicates do not halve each other's.

    Returns ``log2(P / (1 - P))`` for each pair: (P,) float64, computed in the log domain per
    record (no overflow, no cancellation).
    """
    w = np.clip(np.asarray(weights, dtype=np.float64), -300.0, 300.0)
    if len(w) == 0:
        return w
    records = np.asarray(records, dtype=np.int64)
    top = np.full(n_records, -np.inf)
    np.maximum.at(top, records, w)
    scaled = np.exp2(w - top[records])  # the record's best candidate scales to 1
    best = np.flatnonzero(scaled == 1.0)
    _, first = np.unique(records[best], return_index=True)  # one per record (first if tied)
    # each pair's own share: the pair, or the pairs of its record and group
    own = w - top[records]  # log2 of the share (exact for a lone pair, however small)
    if groups is None:
        key, mine = np.arange(len(w)), scaled
    else:
        group_ids = np.asarray(groups, dtype=np.int64)
        _, key, size = distinct_with_inverse(records * (int(group_ids.max()) + 1) + group_ids)
        mine = np.bincount(key, weights=scaled)[key]
        shared = size[key] > 1
        own[shared] = np.log2(mine[shared])
    best_key = np.full(n_records, -1, dtype=np.int64)  # each record's best candidate's group
    best_key[records[best[first]]] = key[best[first]]
    in_best = key == best_key[records]
    rest = np.bincount(records[~in_best], weights=scaled[~in_best], minlength=n_records)
    # the others of the best group: summed directly (no cancellation); of any other group,
    # everything else (at least the best candidate's 1)
    others = np.where(in_best, rest[records],
                      np.bincount(records, weights=scaled, minlength=n_records)[records] - mine)
    none = 1.0 - min(max(coverage, 0.0), 1.0 - 1e-9)
    if other_odds is not None:
        none = none + np.asarray(other_odds, dtype=np.float64)[records]
    return own - np.log2(none * np.exp2(-top[records]) + others)


#: The largest share of a source's records taken to have a match in another: below 1, so
#: that a record with one weak candidate is never certain to match it.
COVERAGE_MAX = 0.999


def _log2_record_sums(weights: np.ndarray, records: np.ndarray, n_records: int,
                      other_odds: np.ndarray | None) -> np.ndarray:
    """``log2`` of each record's sum of ``2**weights`` (plus ``other_odds``): (n_records,)
    float64, ``-inf`` for a record with nothing; computed scaled by each record's top."""
    top = np.full(n_records, -np.inf)
    if len(weights):
        np.maximum.at(top, records, weights)
    extra = np.zeros(n_records) if other_odds is None else np.asarray(other_odds, np.float64)
    top = np.where(np.isfinite(top), top, np.where(extra > 0, 0.0, -np.inf))
    finite = np.isfinite(top)
    sums = np.zeros(n_records)
    if len(weights):
        np.add.at(sums, records, np.exp2(weights - top[records]))
    sums[finite] += extra[finite] * np.exp2(-top[finite])
    out = np.full(n_records, -np.inf)
    out[finite] = top[finite] + np.log2(sums[finite])
    return out


def estimate_coverage(weights: np.ndarray, records: np.ndarray, n_records: int, *,
                      n_other: int, prior_weight: float, other_odds: np.ndarray | None = None,
                      max_iter: int = 500, tol: float = 1e-10) -> float:
    """The share of the ``n_records`` records that have a match among ``n_other`` records of
    another source, by EM, without labels and without the model's prior.

    Each record has a match with probability ``c``, a priori any of the other source's
    records; its candidates' likelihood ratios ``LR = 2**(w - prior_weight)`` (``weights``
    (P,) match weights with the prior ``prior_weight`` included; ``other_odds`` (n,): odds of
    candidates not listed, e.g. dropped under a floor) then give the posterior that it has
    one, ``(c L) / ((1 - c) + c L)`` with ``L = sum(LR) / n_other``, and ``c`` is their mean
    over all records (a record with no candidate has none). The fitted prior ``lambda_`` is
    the share of *all pairs* that match; in a dense population EM can push it to its cap
    (namesakes look like matches), which would make every record look certain to match:
    this estimate asks the question per record instead. Capped at :data:`COVERAGE_MAX`.
    """
    log_l = _log2_record_sums(np.asarray(weights, np.float64), np.asarray(records, np.int64),
                              n_records, other_odds) - prior_weight - np.log2(max(n_other, 1))
    present = np.isfinite(log_l)
    if not present.any():
        return 0.0
    log_l = log_l[present]
    c = 0.5
    for _ in range(max_iter):
        odds = np.log2(c / (1.0 - c)) + log_l
        new = float(min(match_probability(odds).sum() / n_records, COVERAGE_MAX))
        new = max(new, 1e-12)
        if abs(new - c) < tol:
            return new
        c = new
    return c


def shared_match_weights(weights: np.ndarray, records: np.ndarray, n_records: int, *,
                         n_other: int, prior_weight: float, coverage: float,
                         other_odds: np.ndarray | None = None,
                         groups: np.ndarray | None = None) -> np.ndarray:
    """Match weights of candidate pairs between two sources, each record of the smaller
    (``records``, its row in each pair) having at most one match among the ``n_other``
    records of the larger with probability ``coverage`` (:func:`estimate_coverage`).

    With ``LR = 2**(w - prior_weight)`` the probability that candidate ``k`` is the match is
    ``(c/N) LR_k / ((1 - c) + (c/N) sum(LR))``: :func:`one_match_weights` on the weights
    shifted by ``log2(c / (N (1 - c))) - prior_weight``; ``groups`` as there. Returns (P,)
    float64 log2 odds.
    """
    c = min(max(coverage, 1e-12), COVERAGE_MAX)
    shift = float(np.log2(c / (max(n_other, 1) * (1.0 - c)))) - prior_weight
    extra = None if other_odds is None else np.asarray(other_odds, np.float64) * np.exp2(shift)
    return one_match_weights(np.asarray(weights, np.float64) + shift, records, n_records,
                             coverage=0.0, other_odds=extra, groups=groups)
