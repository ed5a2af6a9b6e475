"""Quality of links against ground truth: pairwise precision, recall and F1.

A link set says two records are the same child when they share a cluster; the truth says
so when they share a person id. Counts are over record pairs, overall and per pair of
partners (within-partner pairs, i.e. duplicates, count under ``(p, p)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from linkage.errors import InputDataError
from linkage.matching.uniques import distinct


@dataclass(frozen=True)
class PairQuality:
    """Pairwise counts and rates for one slice of pairs."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class QualityReport:
    overall: PairQuality
    by_partner_pair: dict[tuple[str, str], PairQuality]

    def table(self) -> pd.DataFrame:
        """One row per partner pair plus ``all``: precision, recall, F1 and counts."""
        rows = [("all", self.overall), *((f"{a}~{b}", q) for (a, b), q in
                                         sorted(self.by_partner_pair.items()))]
        return pd.DataFrame([{"pair": name, "precision": q.precision, "recall": q.recall,
                              "f1": q.f1, "true_pos": q.true_positives,
                              "false_pos": q.false_positives, "false_neg": q.false_negatives}
                             for name, q in rows])


def _pairs(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    """All unordered record pairs within each group: columns rec_x, rec_y (rec_x < rec_y)."""
    slim = frame[[group, "rec"]]
    sizes = slim.groupby(group)["rec"].transform("size")
    slim = slim[sizes > 1]
    pairs = slim.merge(slim, on=group)
    return pairs.loc[pairs.rec_x < pairs.rec_y, ["rec_x", "rec_y"]]


def pairwise_quality(links: pd.DataFrame, truth: pd.DataFrame) -> QualityReport:
    """Compare ``links`` (cluster_id, partner, record_id) with ``truth`` (partner, record_id,
    person_id). Records absent from ``links`` are unlinked."""
    for frame, columns, name in ((links, ("cluster_id", "partner", "record_id"), "links"),
                                 (truth, ("partner", "record_id", "person_id"), "truth")):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputDataError(f"{name}: missing column(s) {', '.join(missing)}.")
    keys = pd.concat([truth[["partner", "record_id"]], links[["partner", "record_id"]]])
    codes = pd.MultiIndex.from_frame(keys.astype(str)).drop_duplicates()
    def rec(frame: pd.DataFrame) -> np.ndarray:
        return codes.get_indexer(pd.MultiIndex.from_frame(frame[["partner", "record_id"]]
                                                          .astype(str)))
    predicted = _pairs(links.assign(rec=rec(links)), "cluster_id")
    actual = _pairs(truth.assign(rec=rec(truth)), "person_id")
    partner_of = np.asarray(codes.get_level_values(0))
    both = predicted.merge(actual, how="outer", on=["rec_x", "rec_y"], indicator=True)
    pa, pb = partner_of[both.rec_x.to_numpy()], partner_of[both.rec_y.to_numpy()]
    first = np.where(pa <= pb, pa, pb)
    second = np.where(pa <= pb, pb, pa)
    tally = pd.DataFrame({"a": first, "b": second, "kind": both["_merge"].astype(str)})
    counts = tally.groupby(["a", "b", "kind"]).size()

    def quality(sub: pd.Series) -> PairQuality:
        get = lambda k: int(sub.get(k, 0))  # noqa: E731
        return PairQuality(get("both"), get("left_only"), get("right_only"))

    overall = quality(tally.groupby("kind").size())
    by_pair = {(str(a), str(b)): quality(counts.loc[(a, b)])
               for a, b in {(a, b) for a, b, _ in counts.index}}
    return QualityReport(overall, by_pair)


def pairs_completeness(candidate_left: np.ndarray, candidate_right: np.ndarray,
                       true_left: np.ndarray, true_right: np.ndarray, n_right: int) -> float:
    """Share of true pairs ``(true_left, true_right)`` present among the candidates."""
    if len(true_left) == 0:
        return 1.0
    cand = distinct(candidate_left.astype(np.int64) * n_right + candidate_right)
    real = true_left.astype(np.int64) * n_right + true_right
    return float(np.isin(real, cand).mean())


class SavedCandidates(NamedTuple):
    """One pair of sources' candidate pairs as ``linkage match --save-candidates`` saves
    them (:func:`~linkage.linkfiles.read_candidates`)."""

    left: str                  #: partner of ``left_ids``
    right: str                 #: partner of ``right_ids``
    left_ids: np.ndarray       #: (P,) str record ids
    right_ids: np.ndarray      #: (P,) str record ids
    #: (P,) float64 match probability of each pair as the linker scored it; None in a
    #: file written before probabilities were saved
    probability: np.ndarray | None = None


def blocking_quality(candidates: Sequence[SavedCandidates], truth: pd.DataFrame
                     ) -> pd.DataFrame:
    """Per pair of sources: candidate count, pairs completeness and reduction ratio.

    ``candidates``: per pair of sources, as saved by ``linkage match
    --save-candidates``; ``truth``
    (partner, record_id, person_id) as text.
    """
    rows = []
    sizes = truth.groupby("partner").size()
    person = truth.set_index(["partner", "record_id"]).person_id
    for left_name, right_name, cand_left, cand_right, _ in candidates:
        a = person.loc[left_name] if left_name in sizes else person.iloc[:0]
        b = person.loc[right_name] if right_name in sizes else person.iloc[:0]
        pairs = a.rename("p").reset_index().merge(b.rename("p").reset_index(), on="p")
        index_a, index_b = pd.Index(a.index), pd.Index(b.index)
        cand_l, cand_r = index_a.get_indexer(cand_left), index_b.get_indexer(cand_right)
        true_l = index_a.get_indexer(pairs.record_id_x)
        true_r = index_b.get_indexer(pairs.record_id_y)
        if left_name == right_name:  # unordered pairs: compare both orientations
            keep = pairs.record_id_x.to_numpy() < pairs.record_id_y.to_numpy()
            true_l, true_r = true_l[keep], true_r[keep]
            cand_l, cand_r = np.minimum(cand_l, cand_r), np.maximum(cand_l, cand_r)
            true_l, true_r = np.minimum(true_l, true_r), np.maximum(true_l, true_r)
            total = len(index_a) * (len(index_a) - 1) // 2
        else:
            total = len(index_a) * len(index_b)
        rows.append({"pair": f"{left_name}~{right_name}", "candidates": len(cand_l),
                     "pairs_completeness": pairs_completeness(cand_l, cand_r, true_l, true_r,
                                                              len(index_b)),
                     "reduction_ratio": 1 - len(cand_l) / max(total, 1),
                     "records": f"{sizes.get(left_name, 0)} x {sizes.get(right_name, 0)}"})
    return pd.DataFrame(rows)


def calibration_table(predicted: np.ndarray, is_match: np.ndarray, *,
                      bins: int = 10) -> pd.DataFrame:
    """Predicted against observed match rate per probability bin (deciles by default).

    ``predicted`` (P,) float in [0, 1], the model's match probability of each scored pair;
    ``is_match`` (P,) bool from the truth. One row per non-empty bin: ``low, high, pairs,
    predicted`` (mean predicted probability), ``observed`` (share of true matches),
    ``gap`` (observed - predicted), and ``observed_low, observed_high``: the 95% Wilson
    interval of the observed share. A calibrated model has every gap near 0; where a bin
    holds few pairs the interval is wide, and a gap inside it is sampling noise (20 pairs
    at a share of one half: +-0.2), not miscalibration (:func:`calibration_excess`).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    is_match = np.asarray(is_match, dtype=bool)
    if predicted.shape != is_match.shape:
        raise InputDataError("predicted and is_match must have the same length.")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, bins - 1)
    pairs = np.bincount(which, minlength=bins)
    mean = np.bincount(which, weights=predicted, minlength=bins) / np.maximum(pairs, 1)
    observed = np.bincount(which, weights=is_match, minlength=bins) / np.maximum(pairs, 1)
    low, high = wilson_interval(observed, pairs)
    keep = pairs > 0
    return pd.DataFrame({"low": edges[:-1][keep], "high": edges[1:][keep],
                         "pairs": pairs[keep], "predicted": mean[keep],
                         "observed": observed[keep], "gap": (observed - mean)[keep],
                         "observed_low": low[keep], "observed_high": high[keep]})


#: z for a two-sided 95% interval
_Z95 = 1.959963984540054


def wilson_interval(share: np.ndarray, n: np.ndarray, z: float = _Z95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of observed shares ``share`` (K,) out of ``n`` (K,)
    trials: (low, high), each (K,) float64; (0, 1) where ``n`` is 0."""
    p = np.asarray(share, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    safe = np.maximum(n, 1.0)
    centre = (p + z * z / (2 * safe)) / (1 + z * z / safe)
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe)) / (1 + z * z / safe)
    empty = n == 0
    return (np.where(empty, 0.0, np.clip(centre - half, 0.0, 1.0)),
            np.where(empty, 1.0, np.clip(centre + half, 0.0, 1.0)))


def calibrated_max_gap(table: pd.DataFrame, *, draws: int = 1000,
                       seed: int = 0) -> tuple[float, float]:
    """The largest gap of a :func:`calibration_table` that a *perfectly calibrated* model
    would show by chance with the same bins: each bin's observed count drawn as binomial
    (its pairs, its mean prediction), ``draws`` times. Returns (median, 95th percentile) of
    the largest absolute gap over the draws.

    A measured largest gap is miscalibration only as far as it exceeds these: on 20,000
    children the middle deciles hold 8-73 pairs each, and a calibrated model's largest gap
    is itself about 0.2, so a bar of 0.05 cannot be read there; at 200,000 (a few hundred
    to 1,500 pairs a decile) it is about 0.03. Drawing a bin at its mean prediction slightly
    overstates the spread of a bin whose predictions vary (for a given mean and number of
    pairs the binomial's variance is the largest), so the figures lean towards calling a gap
    chance, as far as pairs are independent: pairs sharing a record (one match each) and
    a child's unjoined duplicates are not, and are not modelled. Small bins make the
    largest gap move in steps: read the figures to two decimals.
    """
    table = table[table.pairs > 0]
    if len(table) == 0:
        return 0.0, 0.0
    pairs = table.pairs.to_numpy(np.int64)
    predicted = np.clip(table.predicted.to_numpy(np.float64), 0.0, 1.0)
    rng = np.random.default_rng(seed)
    observed = rng.binomial(pairs, predicted, size=(draws, len(pairs))) / pairs
    largest = np.abs(observed - predicted).max(axis=1)
    return float(np.median(largest)), float(np.quantile(largest, 0.95))


def calibration_excess(table: pd.DataFrame) -> pd.Series:
    """Per bin of :func:`calibration_table`, how far the mean prediction lies outside the
    observed share's 95% interval (0 inside it): miscalibration that sampling noise does
    not explain."""
    below = (table.observed_low - table.predicted).to_numpy()
    above = (table.predicted - table.observed_high).to_numpy()
    return pd.Series(np.maximum(np.maximum(below, above), 0.0), index=table.index)


def candidate_calibration(candidates: Sequence[SavedCandidates], truth: pd.DataFrame, *,
                          bins: int = 10) -> pd.DataFrame:
    """:func:`calibration_table` over the saved candidate pairs *between* sources (those
    saved with their probability), against ``truth`` (partner, record_id, person_id) as
    text. Pairs whose records the truth lacks count as non-matches."""
    by_partner = {name: frame.set_index("record_id").person_id
                  for name, frame in truth.groupby("partner")}
    nobody = pd.Series(dtype=object)
    predicted, is_match = [], []
    for saved in candidates:
        if saved.left == saved.right or saved.probability is None:
            continue
        people_a = by_partner.get(saved.left, nobody).reindex(saved.left_ids).to_numpy()
        people_b = by_partner.get(saved.right, nobody).reindex(saved.right_ids).to_numpy()
        predicted.append(np.asarray(saved.probability, np.float64))
        is_match.append(pd.notna(people_a) & (people_a == people_b))
    if not predicted:
        raise InputDataError("No candidate pairs between sources were saved with their "
                             "probability (link with match --save-candidates).")
    return calibration_table(np.concatenate(predicted), np.concatenate(is_match), bins=bins)
