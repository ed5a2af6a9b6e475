"""What a linkage run learnt, as one typed summary that ``match`` writes and ``report`` reads.

:class:`MatchModel` holds, per pair of sources, the fitted m, u and lambda, the blocking
counts, the histogram of candidate match weights and a few weight waterfalls, plus the
threshold the links were cut at. It holds no record id and no value from a record. It
round-trips through JSON (:meth:`MatchModel.to_json`, :meth:`MatchModel.from_json`), which
refuses a file that is not one, naming the file and the entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from linkage.errors import InputDataError
from linkage.files import parse_format_json
from linkage.matching.comparison import FieldComparison
from linkage.matching.scoring import FellegiSunter

#: Bin edges of the candidate match-weight histogram kept for reports (log2 units).
WEIGHT_BINS = np.linspace(-40.0, 40.0, 81)

FORMAT_NAME = "linkage-match-model"
FORMAT_VERSION = 1


def weight_histogram(weights: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Counts of match weights ``(P,)`` in :data:`WEIGHT_BINS` (outliers in the end bins):
    ``(len(WEIGHT_BINS) - 1,)`` int64. ``counts`` (P,): how many pairs each weight stands
    for (comparison patterns), 1 each by default."""
    clipped = np.clip(weights, WEIGHT_BINS[0], WEIGHT_BINS[-1])
    return np.rint(np.histogram(clipped, bins=WEIGHT_BINS, weights=counts)[0]).astype(
        np.int64)


def waterfall_examples(model: FellegiSunter, levels: np.ndarray, weights: np.ndarray,
                       comparisons: Sequence[FieldComparison], *,
                       counts: np.ndarray | None = None) -> tuple[dict[str, Any], ...]:
    """Waterfalls of three candidate pairs: the strongest, the closest call, a typical
    non-match (the pair a quarter of the way up by weight). Weights and levels only:
    nothing that identifies a record. ``levels`` may be distinct comparison patterns with
    ``counts`` pairs each."""
    if len(weights) == 0:
        return ()
    counts = np.ones(len(weights)) if counts is None else np.asarray(counts, np.float64)
    order = np.argsort(weights, kind="stable")
    quarter = np.searchsorted(np.cumsum(counts[order]), counts.sum() // 4, side="right")
    picks = {"strongest link": int(np.argmax(weights)),
             "closest call": int(np.argmin(np.abs(weights))),
             "typical non-match": int(order[min(quarter, len(order) - 1)])}
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


@dataclass(frozen=True)
class PairSummary:
    """The model and counts of one pair of sources (``left == right``: deduplication)."""

    left: str
    right: str
    lambda_: float
    m: list[list[float]]              #: per field, per level
    u: list[list[float]]
    candidates: int
    links_above_threshold: int
    pairs_per_pass: dict[str, int]
    skipped_blocks: dict[str, int]
    weight_histogram: list[int]       #: counts in :data:`WEIGHT_BINS`
    examples: list[dict[str, Any]]
    #: between sources: estimated share of the smaller source's records with a match in the
    #: larger (None: deduplication, or a model written before it was kept)
    coverage: float | None = None


@dataclass(frozen=True)
class MatchModel:
    """What ``match`` learnt: one :class:`PairSummary` per fitted pair of sources."""

    threshold: float                  #: match probability the links were cut at
    fields: list[str]                 #: compared fields, in model order
    sizes: dict[str, int]             #: records per partner
    pairs: list[PairSummary]

    def to_json(self) -> str:
        body = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, indent=1)

    @classmethod
    def from_json(cls, text: str, *, source: str = "model file") -> MatchModel:
        """Parse :meth:`to_json` output; a malformed file is one :class:`InputDataError`."""
        data: dict[str, Any] = parse_format_json(
            text, format_name=FORMAT_NAME, version=FORMAT_VERSION, source=source,
            kind="match model file", remedy="'linkage match' writes it beside the links",
            error=InputDataError)
        try:
            pairs = [PairSummary(**p) for p in data["pairs"]]
            model = cls(threshold=float(data["threshold"]),
                        fields=[str(f) for f in data["fields"]],
                        sizes={str(k): int(v) for k, v in data["sizes"].items()}, pairs=pairs)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputDataError(f"{source}: match model file is incomplete or malformed; "
                                 f"re-run 'linkage match'.") from None
        model._check(source)
        return model

    def _check(self, source: str) -> None:
        if not 0.0 < self.threshold < 1.0 or not math.isfinite(self.threshold):
            raise InputDataError(f"{source}: the match model's threshold must be in (0, 1).")
        for k, pair in enumerate(self.pairs):
            if len(pair.m) != len(self.fields) or len(pair.u) != len(self.fields) or \
                    len(pair.weight_histogram) != len(WEIGHT_BINS) - 1:
                raise InputDataError(f"{source}: pairs[{k}] does not match the model's fields "
                                     f"or histogram bins.")
