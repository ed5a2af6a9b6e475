"""The linkage unit's job: encodings of several partners in, clusters of records out.

:class:`Linker` blocks each pair of sources (keyed tokens + LSH), compares the candidate
pairs field by field, fits a Fellegi-Sunter model per pair of sources (and per source for
deduplication), keeps pairs whose calibrated match probability reaches the threshold, and
clusters them greedily with at most one record per source per cluster.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from linkage.errors import MatchingError
from linkage.matching.blocking import BlockingResult, LshParameters, lsh_keys
from linkage.matching.candidates import (
    CandidateBackend,
    ComparisonInputs,
    InProcessBackend,
    compare_pairs,
    salt_agreeing_random_levels,
)
from linkage.matching.clustering import greedy_clusters, one_to_one
from linkage.matching.comparison import FieldComparison, comparisons_for
from linkage.matching.scoring import FellegiSunter
from linkage.matching.similarity import dice_similarity
from linkage.matching.uniques import distinct_with_inverse


@dataclass(frozen=True)
class Source:
    """One partner's encodings as the linkage unit sees them (no key, no identifiers)."""

    name: str
    record_ids: np.ndarray                 #: (n,) str
    record_filters: np.ndarray             #: (n, W) uint64
    field_filters: dict[str, np.ndarray]   #: field -> (n, w) uint64
    missing: np.ndarray                    #: (n, F) bool, in ``field_names`` order
    field_names: tuple[str, ...]
    field_kinds: dict[str, str]            #: field -> identifier kind
    blocking_keys: np.ndarray              #: (n, P) uint64
    blocking_names: tuple[str, ...]
    #: field -> probability that BLIP flipped each bit of its filters (absent = no noise)
    flip_probability: dict[str, float] = field(default_factory=dict)
    #: field -> the field whose value salts it (compared only where that field agrees)
    salted_by: dict[str, str] = field(default_factory=dict)
    #: blocking pass -> (salted field, gate field): compared where the salted field cannot be
    salt_fallbacks: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.record_ids)


@dataclass(frozen=True)
class PairModel:
    """What was learnt and found for one pair of sources (or one source with itself)."""

    left: str
    right: str
    model: FellegiSunter
    blocking: BlockingResult
    left_rows: np.ndarray      #: (E,) rows in ``left`` of pairs at or above the threshold
    right_rows: np.ndarray     #: (E,) rows in ``right``
    probability: np.ndarray    #: (E,) calibrated match probability
    weight: np.ndarray         #: (E,) match weight (log2 Bayes factor with prior)
    weight_histogram: np.ndarray  #: counts of candidate match weights in WEIGHT_BINS
    examples: tuple[dict[str, object], ...] = ()  #: weight waterfalls of a few pairs (no ids)

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


#: Levels of a token comparison: equal tokens (0) or not (1).
TOKEN_THRESHOLDS = (0.5,)

#: Rounds of (u of salted fields from salt-agreeing random pairs, then EM again).
SALT_ROUNDS = 3

#: Bin edges of the candidate match-weight histogram kept for reports (log2 units).
WEIGHT_BINS = np.linspace(-40.0, 40.0, 81)


class Linker:
    """Link three or more partners' encodings.

    Parameters
    ----------
    threshold : match probability at or above which a pair may link (0.5 is the model's
        own decision boundary).
    lsh : LSH parameters to add LSH passes over the record-level filters, or None (the
        default) to block on the providers' keyed tokens only. On the synthetic cohort LSH
        raised pairs completeness by under 0.1 point and cost precision; on FEBRL4 it
        raised recall (see benchmarks/README.md).
    deduplicate : also link duplicate records within each source.
    max_block_pairs : blocks larger than this are skipped (and reported).
    random_pairs : random record pairs per model used to estimate u.
    keep_candidates : keep every candidate pair in the result (for pairs completeness); off
        by default because at a million records they are most of the memory.
    dedup_must_agree : fields that must agree (similarity >= ``dedup_min_similarity``) for
        two records of the same source to link. Twins share a family name, date of birth,
        sex and postcode; only the given name tells them apart, and they are far more
        common than duplicate records, so a within-source link needs the given name.
    backend : where blocking and comparison run: :class:`InProcessBackend` (default) or
        :class:`linkage.matching.distributed.DaskBackend`; the links are the same.
    """

    def __init__(self, *, threshold: float = 0.5, lsh: LshParameters | None = None,
                 deduplicate: bool = True, max_block_pairs: int = 250_000,
                 random_pairs: int = 200_000, seed: int = 0,
                 comparison_overrides: dict[str, tuple[float, ...]] | None = None,
                 dedup_must_agree: tuple[str, ...] = ("given_name",),
                 dedup_min_similarity: float = 0.85, keep_candidates: bool = False,
                 progress: bool = False, backend: CandidateBackend | None = None) -> None:
        if not 0.0 < threshold < 1.0:
            raise MatchingError(f"The 'threshold' parameter of Linker must be a float in "
                                f"(0, 1). Got {threshold} instead.")
        self.threshold = threshold
        self.lsh = lsh
        self.deduplicate = deduplicate
        self.max_block_pairs = max_block_pairs
        self.random_pairs = random_pairs
        self.seed = seed
        self.comparison_overrides = comparison_overrides
        self.dedup_must_agree = dedup_must_agree
        self.dedup_min_similarity = dedup_min_similarity
        self.keep_candidates = keep_candidates
        self.progress = progress
        self.backend = backend or InProcessBackend()

    def link(self, sources: Sequence[Source]) -> LinkageResult:
        """Link ``sources`` (two or more, with the same fields and filter lengths)."""
        self._check(sources)
        first = sources[0]
        comparisons = comparisons_for(first.field_kinds, self.comparison_overrides,
                                      noisy=tuple(first.flip_probability))
        comparisons += tuple(FieldComparison(name, TOKEN_THRESHOLDS)
                             for name in first.salt_fallbacks)
        fallbacks = {name: (first.blocking_names.index(name), salted, gate)
                     for name, (salted, gate) in first.salt_fallbacks.items()}
        inputs = [ComparisonInputs(self._keys(s), s.field_filters, s.missing, s.field_names,
                                   s.flip_probability, s.salted_by, fallbacks)
                  for s in sources]
        pairs = list(itertools.combinations(range(len(sources)), 2))
        dedup = list(range(len(sources))) if self.deduplicate else []
        bar = tqdm(total=len(pairs) + len(dedup), desc="linking source pairs",
                   disable=not self.progress)
        models: list[PairModel] = []
        for i, j in pairs:
            models.append(self._link_pair(sources[i], sources[j], inputs[i], inputs[j],
                                          comparisons))
            bar.update()
        for i in dedup:
            # m from the cross-source model with the most candidate pairs involving source i
            donors = [pm for pm in models
                      if sources[i].name in (pm.left, pm.right) and pm.fitted]
            donor = max(donors, key=lambda pm: len(pm.blocking)) if donors else None
            models.append(self._link_pair(sources[i], sources[i], inputs[i], inputs[i],
                                          comparisons,
                                          fixed_m=donor.model.m_ if donor else None))
            bar.update()
        bar.close()
        return LinkageResult(self._cluster(sources, models), models,
                             tuple(c.name for c in comparisons))

    @staticmethod
    def _check(sources: Sequence[Source]) -> None:
        if len(sources) < 2:
            raise MatchingError("Linking needs at least two sources.")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise MatchingError(f"Source names must be unique; got {', '.join(names)}.")
        first = sources[0]
        for s in sources[1:]:
            if s.field_names != first.field_names or s.blocking_names != first.blocking_names:
                raise MatchingError(f"Source '{s.name}' was encoded with other fields or "
                                    f"blocking passes than '{first.name}'.")
            if s.flip_probability != first.flip_probability or \
                    s.salted_by != first.salted_by or s.salt_fallbacks != first.salt_fallbacks:
                raise MatchingError(f"Source '{s.name}' was hardened (BLIP noise or salting) "
                                    f"unlike '{first.name}'.")
            if s.record_filters.shape[1] != first.record_filters.shape[1]:
                raise MatchingError(f"Source '{s.name}' has record filters of another length.")

    def _keys(self, source: Source) -> np.ndarray:
        if self.lsh is None:
            return source.blocking_keys
        return np.hstack([source.blocking_keys, lsh_keys(source.record_filters, self.lsh)])

    def _pass_names(self, source: Source) -> tuple[str, ...]:
        lsh = tuple(f"lsh_{b}" for b in range(self.lsh.bands)) if self.lsh else ()
        return source.blocking_names + lsh

    def _link_pair(self, a: Source, b: Source, in_a: ComparisonInputs, in_b: ComparisonInputs,
                   comparisons: tuple[FieldComparison, ...],
                   fixed_m: list[np.ndarray] | None = None) -> PairModel:
        same = a is b
        found = self.backend.candidates(in_a, in_b, self._pass_names(a), comparisons,
                                        max_block_pairs=self.max_block_pairs, self_join=same)
        blocking, levels = found.blocking, found.levels
        rng = np.random.default_rng(self.seed)
        ra = rng.integers(0, len(a), self.random_pairs)
        rb = rng.integers(0, len(b), self.random_pairs)
        keep = ra != rb if same else np.ones(len(ra), bool)
        random_levels = compare_pairs(in_a, in_b, ra[keep], rb[keep], comparisons)
        model = FellegiSunter(tuple(c.n_levels for c in comparisons))
        kept = blocking if self.keep_candidates else blocking.summary()
        if len(levels) == 0:
            empty = np.zeros(0, np.int64)
            return PairModel(a.name, b.name, model, kept, empty, empty, np.zeros(0),
                             np.zeros(0), np.zeros(len(WEIGHT_BINS) - 1, np.int64))
        total = len(a) * (len(a) - 1) // 2 if same else len(a) * len(b)
        # each record matches at most one record of the other source (duplicates aside)
        most = len(a) // 2 if same else min(len(a), len(b))
        model.fit(levels, random_levels, total_pairs=max(total, len(levels)),
                  max_matches=most, fixed_m=fixed_m)
        salt_samples = salt_agreeing_random_levels(in_a, in_b, comparisons, rng,
                                                   self_join=same)
        for _ in range(SALT_ROUNDS if salt_samples else 0):
            # u of salted fields from random pairs whose salt agrees, matches separated out
            fixed_u: dict[int, np.ndarray] = {}
            for sample, salted in salt_samples:
                fixed_u.update(model.mixture_u(sample, salted))
            model.fit(levels, random_levels, total_pairs=max(total, len(levels)),
                      max_matches=most, fixed_m=fixed_m, fixed_u=fixed_u)
        weights = model.match_weights(levels)
        probability = 1.0 / (1.0 + np.exp2(-np.clip(weights, -1000, 1000)))
        chosen = probability >= self.threshold
        if not same:  # one-to-one per pair of sources, before clustering across them
            picked = np.flatnonzero(chosen)
            chosen[picked] = one_to_one(blocking.left[picked], blocking.right[picked],
                                        weights[picked])
        if same:
            for name in self.dedup_must_agree:  # only the pairs still chosen need scoring
                picked = np.flatnonzero(chosen)
                sim = dice_similarity(a.field_filters[name], b.field_filters[name],
                                      blocking.left[picked], blocking.right[picked],
                                      flip_probability=a.flip_probability.get(name, 0.0))
                chosen[picked] = sim >= self.dedup_min_similarity
        histogram = np.histogram(np.clip(weights, WEIGHT_BINS[0], WEIGHT_BINS[-1]),
                                 bins=WEIGHT_BINS)[0]
        return PairModel(a.name, b.name, model, kept, blocking.left[chosen],
                         blocking.right[chosen], probability[chosen], weights[chosen], histogram,
                         _examples(model, levels, weights, comparisons))

    def _cluster(self, sources: Sequence[Source], models: list[PairModel]) -> pd.DataFrame:
        offsets = np.cumsum([0] + [len(s) for s in sources])
        index = {s.name: k for k, s in enumerate(sources)}
        source_of = np.repeat(np.arange(len(sources)), [len(s) for s in sources])
        a = np.concatenate([pm.left_rows + offsets[index[pm.left]] for pm in models])
        b = np.concatenate([pm.right_rows + offsets[index[pm.right]] for pm in models])
        weight = np.concatenate([pm.weight for pm in models])
        prob = np.concatenate([pm.probability for pm in models])
        within = np.concatenate([np.full(len(pm.weight), pm.left == pm.right) for pm in models])
        clusters = greedy_clusters(source_of, a.astype(np.int64), b.astype(np.int64), weight,
                                   prob, within_source=within)
        sizes = np.bincount(clusters.label, minlength=len(source_of))
        linked = sizes[clusters.label] > 1
        _, cluster_ids, _ = distinct_with_inverse(clusters.label[linked])
        partner = np.asarray([s.name for s in sources], dtype=object)[source_of[linked]]
        record_ids = np.concatenate([s.record_ids for s in sources])[linked]
        return pd.DataFrame({"cluster_id": cluster_ids.astype(np.int64), "partner": partner,
                             "record_id": record_ids,
                             "probability": np.round(clusters.probability[linked], 6)}
                            ).sort_values(["cluster_id", "partner"], ignore_index=True)


def _examples(model: FellegiSunter, levels: np.ndarray, weights: np.ndarray,
              comparisons: tuple[FieldComparison, ...]) -> tuple[dict[str, object], ...]:
    """Waterfalls of three candidate pairs: the strongest, the closest call, a typical
    non-match. Weights and levels only: nothing that identifies a record."""
    if len(weights) == 0:
        return ()
    picks = {"strongest link": int(np.argmax(weights)),
             "closest call": int(np.argmin(np.abs(weights))),
             "typical non-match": int(np.argsort(weights)[len(weights) // 4])}
    out = []
    for label, index in picks.items():
        contributions = model.contributions(levels[index:index + 1])[0]
        out.append({"label": label, "prior": model.prior_weight,
                    "fields": {c.name: float(w) for c, w in zip(comparisons, contributions,
                                                                 strict=True)},
                    "levels": {c.name: int(v) for c, v in zip(comparisons, levels[index],
                                                               strict=True)},
                    "total": float(weights[index])})
    return tuple(out)


class EncodingsLike(Protocol):
    """What :func:`source_from_encodings` reads (``EncodedRecords`` has it)."""

    @property
    def record_ids(self) -> np.ndarray: ...
    @property
    def record_filters(self) -> np.ndarray: ...
    @property
    def field_filters(self) -> dict[str, np.ndarray]: ...
    @property
    def missing(self) -> np.ndarray: ...
    @property
    def field_names(self) -> tuple[str, ...]: ...
    @property
    def blocking_keys(self) -> np.ndarray: ...
    @property
    def blocking_names(self) -> tuple[str, ...]: ...
    @property
    def flip_probability(self) -> dict[str, float]: ...
    @property
    def salted_by(self) -> dict[str, str]: ...
    @property
    def salt_fallbacks(self) -> dict[str, tuple[str, str]]: ...


def source_from_encodings(name: str, enc: EncodingsLike, kinds: dict[str, str]) -> Source:
    """A :class:`Source` from a partner's encodings and the kind of each field.

    The encodings also say which fields carry BLIP noise (comparisons then estimate the
    noise-free Dice) and which are salted (compared only where the salt agrees).
    """
    return Source(name=name, record_ids=np.asarray(enc.record_ids),
                  record_filters=enc.record_filters, field_filters=dict(enc.field_filters),
                  missing=enc.missing, field_names=tuple(enc.field_names), field_kinds=kinds,
                  blocking_keys=enc.blocking_keys, blocking_names=tuple(enc.blocking_names),
                  flip_probability=dict(enc.flip_probability), salted_by=dict(enc.salted_by),
                  salt_fallbacks=dict(enc.salt_fallbacks))
