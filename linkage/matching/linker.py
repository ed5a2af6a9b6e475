"""The linkage unit's job: encoded sources of several partners in, clusters of records out.

:class:`Linker` only orchestrates. For each pair of sources (and each source with itself,
for deduplication) it asks the backend for candidate pairs and their comparison levels
(:mod:`~linkage.matching.candidates`), fits a Fellegi-Sunter model
(:mod:`~linkage.matching.scoring`), and selects the pairs that may link
(:mod:`~linkage.matching.clustering`); then it clusters the links across sources.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from linkage.contracts import EncodedSource
from linkage.errors import MatchingError
from linkage.matching.backends import CandidateBackend, InProcessBackend, StrongPairs
from linkage.matching.blocking import CandidatePairs, LshParameters, lsh_keys
from linkage.matching.bridging import CrossLinks, bridged_pairs, duplicate_groups, matched_apart
from linkage.matching.candidates import (
    compare_pairs,
    random_pair_levels,
    salt_agreeing_random_levels,
    token_fields,
)
from linkage.matching.clustering import (
    DedupGate,
    PairLinks,
    cluster_links,
    home_shared,
    merge_links,
    select_links,
)
from linkage.matching.comparison import FieldComparison, comparisons_for
from linkage.matching.scoring import (
    FellegiSunter,
    estimate_coverage,
    match_probability,
    shared_match_weights,
)
from linkage.matching.summary import (
    MatchModel,
    PairSummary,
    waterfall_examples,
    weight_histogram,
)
from linkage.matching.tasks import link_floor

#: Levels of a salt fallback's comparison: equal tokens (0) or not (1).
TOKEN_THRESHOLDS = (0.5,)


def _invalid(name: str, rule: str, value: object) -> MatchingError:
    """The error for a bad setting, in one shape for every parameter."""
    return MatchingError(f"The '{name}' parameter of Linker must be {rule}. Got {value!r}.")


@dataclass(frozen=True)
class LinkerSettings:
    """How a :class:`Linker` links; validated once, then frozen.

    threshold : match probability at or above which a pair may link (0.5 is the model's
        own decision boundary).
    lsh : LSH parameters to add LSH passes over the record-level filters, or None (the
        default) to block on the providers' keyed tokens only. On the synthetic cohort LSH
        raised pairs completeness by under 0.1 point and cost precision; on FEBRL4 it
        raised recall (see benchmarks/README.md).
    deduplicate : also link duplicate records within each source.
    max_block_pairs : blocks larger than this are skipped (and reported).
    random_pairs : random record pairs per model used to estimate u.
    seed : seed of the random pairs (results repeat exactly).
    comparison_overrides : field -> Dice thresholds of its comparison levels.
    dedup_gate : what a within-source link must also agree on (:class:`DedupGate`).
    keep_candidates : keep every candidate pair in the result (for pairs completeness); off
        by default because at a million records they are most of the memory.
    bridge_duplicates : also link two records of one source that both link strongly to one
        record of another (:mod:`~linkage.matching.bridging`); off: duplicates only from
        their own comparison. Needs ``deduplicate`` (and a fitted deduplication model, whose
        prior it uses); a source is bridged only through sources larger than it (a record of
        the larger source of a pair shares its probability among its candidates, so two
        of them never both reach a threshold of 0.5).
    split_matched_apart : drop a deduplication link whose two records are matched to two
        children of another source (records there that deduplication keeps apart;
        :func:`~linkage.matching.bridging.matched_apart`): namesakes born a day apart.
        Needs ``deduplicate``.
    """

    threshold: float = 0.5
    lsh: LshParameters | None = None
    deduplicate: bool = True
    max_block_pairs: int = 250_000
    random_pairs: int = 200_000
    seed: int = 0
    comparison_overrides: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    dedup_gate: DedupGate = field(default_factory=DedupGate)
    keep_candidates: bool = False
    bridge_duplicates: bool = True
    split_matched_apart: bool = True

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) \
                or not 0.0 < t < 1.0:
            raise _invalid("threshold", "a float in (0, 1)", t)
        for name in ("max_block_pairs", "random_pairs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _invalid(name, "a positive int", value)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise _invalid("seed", "a non-negative int", self.seed)
        gate = self.dedup_gate
        for name in ("min_similarity", "noisy_min_similarity", "contained_at"):
            value = getattr(gate, name)
            if name == "contained_at" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 <= value <= 1.0:
                raise _invalid(f"dedup_gate.{name}", "a float in [0, 1]", value)


@dataclass(frozen=True)
class PairModel:
    """What was learnt and found for one pair of sources (or one source with itself)."""

    model: FellegiSunter
    candidates: CandidatePairs   #: the pairs, or only their counts (``keep_candidates``)
    links: PairLinks             #: the pairs selected to link
    weight_histogram: np.ndarray  #: counts of candidate match weights in WEIGHT_BINS
    examples: tuple[dict[str, Any], ...] = ()  #: weight waterfalls of a few pairs (no ids)
    #: (F,) int64, candidate pairs in which each comparison was made (not missing)
    compared: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: between sources: estimated share of the smaller source's records with a match
    coverage: float | None = None
    #: between sources: the pairs that could link, before the one-to-one assignment, with
    #: their evidence (for :mod:`~linkage.matching.bridging`); kept in the result only with
    #: ``keep_candidates``
    cross_links: CrossLinks | None = None

    @property
    def left(self) -> str:
        return self.links.left

    @property
    def right(self) -> str:
        return self.links.right

    @property
    def fitted(self) -> bool:
        """False when blocking found no candidate pair, so there was nothing to learn."""
        return hasattr(self.model, "m_")


@dataclass(frozen=True)
class LinkageResult:
    """Links (one row per linked record) and the models behind them."""

    links: pd.DataFrame                  #: cluster_id, partner, record_id, probability
    pair_models: list[PairModel] = field(default_factory=list)
    field_names: tuple[str, ...] = ()    #: the compared fields, in model order
    threshold: float = 0.5
    sizes: dict[str, int] = field(default_factory=dict)  #: records per partner

    def duplicate_groups(self) -> dict[str, np.ndarray]:
        """Partner -> (n,) int64 group of each of its records: the records deduplication
        joined share one (partners not deduplicated are left out)."""
        return _duplicate_groups(self.pair_models, self.sizes)

    def match_model(self) -> MatchModel:
        """The fitted models and counts as a :class:`MatchModel` (what ``report`` reads)."""
        return MatchModel(threshold=self.threshold, fields=list(self.field_names),
                          sizes=dict(self.sizes), pairs=[_pair_summary(pm)
                                                         for pm in self.pair_models if pm.fitted])


def _pair_summary(pm: PairModel) -> PairSummary:
    return PairSummary(
        left=pm.left, right=pm.right, lambda_=pm.model.lambda_,
        m=[x.tolist() for x in pm.model.m_], u=[x.tolist() for x in pm.model.u_],
        candidates=len(pm.candidates), links_above_threshold=len(pm.links.weight),
        pairs_per_pass=dict(pm.candidates.pairs_per_pass),
        skipped_blocks=dict(pm.candidates.skipped_blocks),
        weight_histogram=pm.weight_histogram.tolist(), examples=list(pm.examples),
        coverage=pm.coverage)


class Linker:
    """Link the encoded sources of two or more partners.

    ``Linker(LinkerSettings(threshold=0.6))`` or, equivalently, ``Linker(threshold=0.6)``:
    the keyword options are :class:`LinkerSettings` fields. ``backend`` decides where
    blocking and comparison run (:class:`InProcessBackend` by default, or
    :class:`linkage.matching.distributed.DaskBackend`); the links are the same.
    """

    def __init__(self, settings: LinkerSettings | None = None, *,
                 backend: CandidateBackend | None = None, progress: bool = False,
                 **options: Any) -> None:
        known = {f.name for f in fields(LinkerSettings)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise MatchingError(f"Linker got unknown option(s) {', '.join(unknown)}; the "
                                f"options are {', '.join(sorted(known))}.")
        self.settings = replace(settings or LinkerSettings(), **options)
        self.backend = backend or InProcessBackend()
        self.progress = progress

    def __repr__(self) -> str:
        return f"Linker({self.settings!r})"

    def link(self, sources: Sequence[EncodedSource]) -> LinkageResult:
        """Link ``sources`` (two or more, with the same fields and filter lengths).

        The result does not depend on the order of ``sources``: they are taken largest
        first, ties by partner name (:func:`_canonical_order`).
        """
        _check(sources)
        sources = sorted((self.with_lsh(s) for s in sources), key=_canonical_order)
        comparisons = self.comparisons(sources[0])
        pairs = list(itertools.combinations(sources, 2))
        dedup = sources if self.settings.deduplicate else []
        bar = tqdm(total=len(pairs) + len(dedup), desc="linking source pairs",
                   disable=not self.progress)
        models: list[PairModel] = []
        for a, b in pairs:
            models.append(self._link_pair(a, b, comparisons))
            bar.update()
        strong = [pm.cross_links.above(self.settings.threshold) for pm in models
                  if pm.cross_links is not None]
        for source in dedup:
            pm = self._link_pair(source, source, comparisons,
                                 fixed_m=_donor_m(models, source.partner))
            models.append(self._with_bridges(pm, source, strong))
            bar.update()
        bar.close()
        if dedup:
            if self.settings.split_matched_apart:
                models = _without_matched_apart(models, {s.partner: len(s) for s in sources})
            models = self._with_duplicate_groups(sources, models)
        if not self.settings.keep_candidates:  # (the contenders were for the steps above)
            models = [replace(pm, cross_links=None) for pm in models]
        links = cluster_links(sources, [pm.links for pm in models])
        return LinkageResult(links, models, tuple(c.name for c in comparisons),
                             self.settings.threshold, {s.partner: len(s) for s in sources})

    def with_lsh(self, source: EncodedSource) -> EncodedSource:
        """The source with the linkage unit's LSH passes appended (when LSH is on)."""
        lsh = self.settings.lsh
        if lsh is None:
            return source
        names = tuple(f"lsh_{b}" for b in range(lsh.bands))
        return source.with_blocking(lsh_keys(source.record_filters, lsh), names)

    def score_candidates(self, result: LinkageResult, sources: Sequence[EncodedSource]
                         ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The comparison levels and match weights of every kept candidate pair of
        ``result`` (a run with ``keep_candidates``), as this linker scored them: per pair
        model, in ``result.pair_models`` order and aligned with ``pm.candidates``, ``(levels,
        weights)``: (P, F) int8 and (P,) float64 log2 odds. Between sources the pairs share
        each record's one match (:func:`one_match_pair_weights`, duplicates joined by
        deduplication counted once); within a source, the model's own weight. An unfitted
        model (no candidates) gives empty arrays."""
        by_name = {s.partner: s for s in sources}
        groups = result.duplicate_groups()
        out = []
        for pm in result.pair_models:
            left, right = pm.candidates.left, pm.candidates.right
            if len(left) != len(pm.candidates):  # counted only
                raise MatchingError("The result kept no candidate pairs: link with "
                                    "keep_candidates=True (match --save-candidates).")
            a, b = by_name[pm.left], by_name[pm.right]
            comparisons = self.comparisons(a)
            if not pm.fitted or len(left) == 0:
                out.append((np.zeros((len(left), len(comparisons)), np.int8),
                            np.full(len(left), -np.inf)))
                continue
            levels = compare_pairs(a, b, left, right, comparisons)
            weights = pm.model.match_weights(levels)
            if a is not b:
                weights = one_match_pair_weights(a, b, left, right, weights,
                                                 prior_weight=pm.model.prior_weight,
                                                 coverage=pm.coverage or 0.0, groups=groups)
            out.append((levels, weights))
        return out

    def candidate_probabilities(self, result: LinkageResult,
                                sources: Sequence[EncodedSource]) -> list[np.ndarray]:
        """The match probability of every kept candidate pair (:meth:`score_candidates`):
        one (P,) float64 array per pair model."""
        return [match_probability(weights)
                for _, weights in self.score_candidates(result, sources)]

    def comparisons(self, source: EncodedSource) -> tuple[FieldComparison, ...]:
        """How each field of ``source`` (and each salt fallback) is cut into levels under
        these settings: the one place this is decided (the store rebuilds models with it)."""
        hints = source.hints
        comparisons = comparisons_for(source.field_kinds, self.settings.comparison_overrides,
                                      noisy=tuple(hints.flip_probability))
        return comparisons + tuple(FieldComparison(fb.blocking_pass, TOKEN_THRESHOLDS)
                                   for fb in hints.salt_fallbacks)

    def _with_bridges(self, pm: PairModel, source: EncodedSource,
                      cross: Sequence[CrossLinks]) -> PairModel:
        """The deduplication links of ``source`` with the pairs that a record of another
        source bridges (:mod:`~linkage.matching.bridging`) added, after the same gate."""
        if not pm.fitted or not self.settings.bridge_duplicates:
            return pm
        left, right, weight = bridged_pairs(source.partner, cross,
                                            prior_weight=pm.model.prior_weight)
        probability = match_probability(weight)
        gate, threshold = self.settings.dedup_gate, self.settings.threshold
        chosen = select_links(source, source, left, right, weight, probability,
                              threshold=threshold, gate=gate)
        home = gate.home_field
        if home is not None and home in source.field_filters and chosen.any():
            # twins share the home too: a bridge says nothing of how alike two records'
            # given names are, so there the given name must agree as without noise
            picked = np.flatnonzero(chosen)
            at_home = picked[home_shared(source, source, home, left[picked], right[picked])]
            strict = replace(gate, noisy_min_similarity=gate.min_similarity)
            chosen[at_home] = select_links(source, source, left[at_home], right[at_home],
                                           weight[at_home], probability[at_home],
                                           threshold=threshold, gate=strict)
        if not chosen.any():
            return pm
        links = merge_links(pm.links, PairLinks(pm.left, pm.right, left[chosen],
                                                right[chosen], probability[chosen],
                                                weight[chosen]))
        return replace(pm, links=links)

    def _with_duplicate_groups(self, sources: Sequence[EncodedSource],
                               models: list[PairModel]) -> list[PairModel]:
        """The models between sources scored and selected again where deduplication joined
        candidates of one record: those share its one match as a group
        (:mod:`~linkage.matching.bridging`)."""
        by_name = {s.partner: s for s in sources}
        groups = _duplicate_groups(models, {s.partner: len(s) for s in sources})
        out = []
        for pm in models:
            cross = pm.cross_links
            if cross is None or not len(cross):
                out.append(pm)
                continue
            a, b = by_name[pm.left], by_name[pm.right]
            one = _OneMatch.of(a, b)
            other, other_rows = ((b.partner, cross.right_rows) if one.side == "left"
                                 else (a.partner, cross.left_rows))
            if other not in groups:
                out.append(pm)
                continue
            group = groups[other][other_rows]
            if len(np.unique(group)) == len(np.unique(other_rows)):  # nothing joined
                out.append(pm)
                continue
            prior = pm.model.prior_weight
            rows = one.rows(cross.left_rows, cross.right_rows)
            weights = shared_match_weights(cross.evidence + prior, rows, one.n_side,
                                           n_other=one.n_other, prior_weight=prior,
                                           coverage=pm.coverage or 0.0,
                                           other_odds=cross.dropped_odds, groups=group)
            probability = match_probability(weights)
            # a group's pairs share its probability: the link goes to its best-evidenced
            # record (the others join the cluster through deduplication)
            best = best_of_groups(rows, group, cross.evidence)
            chosen = np.zeros(len(weights), dtype=bool)
            chosen[best] = select_links(a, b, cross.left_rows[best], cross.right_rows[best],
                                        weights[best], probability[best],
                                        threshold=self.settings.threshold)
            links = PairLinks(pm.left, pm.right, cross.left_rows[chosen],
                              cross.right_rows[chosen], probability[chosen], weights[chosen])
            out.append(replace(pm, links=links,
                               cross_links=replace(cross, probability=probability)))
        return out

    def _link_pair(self, a: EncodedSource, b: EncodedSource,
                   comparisons: tuple[FieldComparison, ...],
                   fixed_m: list[np.ndarray] | None = None) -> PairModel:
        """Count -> fit -> score -> select, for one pair of sources (``a is b``: dedup).

        The backend first returns the candidates' comparison patterns and counts (all EM
        needs), then only the pairs at or above the floor under which no pair can be linked
        (:func:`~linkage.matching.tasks.link_floor`), with the odds of the others summed per
        record: no step holds every candidate pair.
        """
        s, same = self.settings, a is b
        counted = self.backend.count_patterns(a, b, comparisons,
                                              max_block_pairs=s.max_block_pairs, self_join=same)
        model = FellegiSunter(tuple(c.n_levels for c in comparisons))
        patterns, counts = counted.counts.patterns, counted.counts.counts
        if counted.counts.total == 0:
            return PairModel(model, counted.summary(), _no_links(a, b),
                             weight_histogram(np.zeros(0)))
        rng = np.random.default_rng(s.seed)
        random_levels = random_pair_levels(a, b, comparisons, rng, s.random_pairs,
                                           self_join=same)
        total = len(a) * (len(a) - 1) // 2 if same else len(a) * len(b)
        model.fit_counts(counted.counts, random_levels,
                         total_pairs=max(total, counted.counts.total),
                         # each record matches at most one record of the other source
                         max_matches=len(a) // 2 if same else min(len(a), len(b)),
                         fixed_m=fixed_m,
                         salt_samples=salt_agreeing_random_levels(a, b, comparisons, rng,
                                                                  self_join=same),
                         # a fallback is a blocking pass's token equality: every pair with
                         # equal tokens is a candidate, so its u is counted there
                         complete_fields=token_fields(a, comparisons))
        one = None if same else _OneMatch.of(a, b)
        between = None if one is None else (one.n_other, model.prior_weight)
        floor = -np.inf if s.keep_candidates else link_floor(s.threshold, between)
        strong = self.backend.strong_pairs(a, b, comparisons, model, floor=floor,
                                           side=None if one is None else one.side,
                                           max_block_pairs=s.max_block_pairs, self_join=same)
        weights, coverage = strong.weight, None
        if one is not None:
            rows = one.rows(strong.left, strong.right)
            coverage = estimate_coverage(weights, rows, one.n_side, n_other=one.n_other,
                                         prior_weight=model.prior_weight,
                                         other_odds=strong.dropped_odds)
            weights = shared_match_weights(weights, rows, one.n_side, n_other=one.n_other,
                                           prior_weight=model.prior_weight,
                                           coverage=coverage, other_odds=strong.dropped_odds)
        probability = match_probability(weights)
        chosen = select_links(a, b, strong.left, strong.right, weights, probability,
                              threshold=s.threshold, gate=s.dedup_gate)
        links = PairLinks(a.partner, b.partner, strong.left[chosen], strong.right[chosen],
                          probability[chosen], weights[chosen])
        cross = None if one is None else _contenders(a, b, strong, probability, one,
                                                     model.prior_weight, s.threshold)
        summary = counted.summary()
        kept = CandidatePairs(strong.left, strong.right, summary.pairs_per_pass,
                              summary.skipped_blocks) if s.keep_candidates else summary
        pattern_weights = model.match_weights(patterns)
        return PairModel(model, kept, links, weight_histogram(pattern_weights, counts),
                         waterfall_examples(model, patterns, pattern_weights, comparisons,
                                            counts=counts),
                         ((patterns >= 0) * counts[:, None]).sum(axis=0).astype(np.int64),
                         coverage, cross)


def _without_matched_apart(models: Sequence[PairModel], sizes: Mapping[str, int]
                           ) -> list[PairModel]:
    """The models, each deduplication's links without the pairs whose two records are
    matched to two children of another source (:func:`~linkage.matching.bridging.
    matched_apart`; the matches are the links between sources as first selected)."""
    groups = _duplicate_groups(models, sizes)
    out = []
    for pm in models:
        if pm.left != pm.right or not len(pm.links.left_rows):
            out.append(pm)
            continue
        matches = []
        for between in models:
            if between.left == between.right or pm.left not in (between.left, between.right):
                continue
            mine, theirs, other = ((between.links.left_rows, between.links.right_rows,
                                    between.right) if between.left == pm.left else
                                   (between.links.right_rows, between.links.left_rows,
                                    between.left))
            match = np.full(sizes[pm.left], -1, dtype=np.int64)
            match[mine] = theirs
            matches.append((match, groups.get(other, np.arange(sizes[other]))))
        keep = ~matched_apart(pm.links.left_rows, pm.links.right_rows, matches)
        links = pm.links
        out.append(replace(pm, links=PairLinks(links.left, links.right, links.left_rows[keep],
                                               links.right_rows[keep], links.probability[keep],
                                               links.weight[keep])))
    return out


def _duplicate_groups(models: Sequence[PairModel], sizes: Mapping[str, int]
                      ) -> dict[str, np.ndarray]:
    """Partner -> group of each of its ``sizes[partner]`` records, from the deduplication
    models' links (:func:`~linkage.matching.bridging.duplicate_groups`)."""
    return {pm.left: duplicate_groups(sizes[pm.left], pm.links.left_rows, pm.links.right_rows)
            for pm in models if pm.left == pm.right}


def best_of_groups(records: np.ndarray, groups: np.ndarray, evidence: np.ndarray
                    ) -> np.ndarray:
    """Indices of the pairs with the largest ``evidence`` (ties: the first) among each
    record's pairs into one group: (K,) int64, in pair order."""
    order = np.lexsort((-evidence, groups, records))
    r, g = records[order], groups[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (g[1:] != g[:-1])]
    return np.sort(order[first])


#: Pairs between sources kept for what duplicates change after deduplication
#: (:class:`~linkage.matching.bridging.CrossLinks`): those at least this probable. A pair
#: under it matters only in a group of hundreds of duplicates; its odds stay in its record's
#: sum. (Where EM takes namesakes in, the pairs over the floor run to tens of millions.)
CONTENDER_PROBABILITY = 1e-3


def _contenders(a: EncodedSource, b: EncodedSource, strong: StrongPairs,
                probability: np.ndarray, one: _OneMatch, prior_weight: float,
                threshold: float) -> CrossLinks:
    """The pairs of ``strong`` that could still link once duplicates are known, the odds
    of the others added to their records' dropped odds."""
    keep = probability >= min(CONTENDER_PROBABILITY, threshold)
    rows = one.rows(strong.left, strong.right)
    odds = np.bincount(rows[~keep], weights=np.exp2(strong.weight[~keep]),
                       minlength=one.n_side)
    if strong.dropped_odds is not None:
        odds = odds + strong.dropped_odds
    return CrossLinks(a.partner, b.partner, strong.left[keep], strong.right[keep],
                      strong.weight[keep] - prior_weight, probability[keep], one.side, odds)


@dataclass(frozen=True)
class _OneMatch:
    """Between two sources: whose records' candidates compete for one match (the smaller
    source's, ``side`` of each pair), how many such records, and how many records of the
    other source each looks for its match among."""

    side: str  #: "left" or "right"
    n_side: int
    n_other: int

    @classmethod
    def of(cls, a: EncodedSource, b: EncodedSource,
           sizes: tuple[int, int] | None = None) -> _OneMatch:
        n_a, n_b = sizes or (len(a), len(b))
        return cls("right", n_b, n_a) if n_b <= n_a else cls("left", n_a, n_b)

    def rows(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The competing side's row of each pair."""
        return left if self.side == "left" else right


def one_match_pair_weights(a: EncodedSource, b: EncodedSource, left: np.ndarray,
                           right: np.ndarray, weights: np.ndarray, *, prior_weight: float,
                           coverage: float, sizes: tuple[int, int] | None = None,
                           groups: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """The weights of the candidate pairs ``(a[left], b[right])`` knowing that each record
    of the smaller source has a match in the larger with probability ``coverage``, and at
    most one (:func:`~linkage.matching.scoring.shared_match_weights`). (P,) float64.
    ``sizes``: the sources' sizes when ``a`` and ``b`` hold only some of their records.
    ``groups``: partner -> group of each record (:meth:`LinkageResult.duplicate_groups`):
    the larger source's duplicates then share the match as one."""
    one = _OneMatch.of(a, b, sizes)
    other, other_rows = (b.partner, right) if one.side == "left" else (a.partner, left)
    group = None if groups is None or other not in groups else groups[other][other_rows]
    return shared_match_weights(weights, one.rows(left, right), one.n_side,
                                n_other=one.n_other, prior_weight=prior_weight,
                                coverage=coverage, groups=group)


def _canonical_order(source: EncodedSource) -> tuple[int, str]:
    """Sort key that makes a run independent of the order its sources were given in:
    larger sources first (the left of each pair), then by partner name."""
    return -len(source), source.partner


def _no_links(a: EncodedSource, b: EncodedSource) -> PairLinks:
    empty = np.zeros(0, np.int64)
    return PairLinks(a.partner, b.partner, empty, empty, np.zeros(0), np.zeros(0))


def _donor_m(models: Sequence[PairModel], partner: str) -> list[np.ndarray] | None:
    """m for deduplicating ``partner``, field by field: from the fitted cross-source model
    involving it that compared the field in the most candidate pairs (duplicates are too
    rare within a source for EM). A field one partner never holds (the NHS number in
    education) says nothing in that partner's models: its m comes from another model (the
    NHS number's from health~social care when deduplicating health), and a field no model
    compared keeps the m of the model with the most candidate pairs."""
    donors = [pm for pm in models if partner in (pm.left, pm.right) and pm.fitted]
    if not donors:
        return None
    main = max(donors, key=lambda pm: len(pm.candidates))
    out = []
    for f, m in enumerate(main.model.m_):
        best = max(donors, key=lambda pm: int(pm.compared[f]) if len(pm.compared) else 0)
        compared = int(best.compared[f]) if len(best.compared) else 0
        out.append(best.model.m_[f] if compared > 0 else m)
    return out


def _check(sources: Sequence[EncodedSource]) -> None:
    if len(sources) < 2:
        raise MatchingError("Linking needs at least two encoded sources.")
    names = [s.partner for s in sources]
    if not all(names) or len(set(names)) != len(names):
        raise MatchingError("Each encoded source needs its own partner name (encode with "
                            "partner=NAME); got " + ", ".join(repr(n) for n in names) + ".")
    first = sources[0]
    for s in sources[1:]:
        if s.field_names != first.field_names or s.blocking_names != first.blocking_names \
                or dict(s.field_kinds) != dict(first.field_kinds):
            raise MatchingError(f"Source '{s.partner}' was encoded with other fields or "
                                f"blocking passes than '{first.partner}'.")
        if s.hints != first.hints:
            raise MatchingError(f"Source '{s.partner}' was hardened (BLIP noise or salting) "
                                f"unlike '{first.partner}'.")
        if s.record_filters.shape[1] != first.record_filters.shape[1] or any(
                s.field_filters[f].shape[1] != first.field_filters[f].shape[1]
                for f in first.field_names):
            raise MatchingError(f"Source '{s.partner}' has filters of another length than "
                                f"'{first.partner}'.")
