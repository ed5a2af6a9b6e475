"""Comparison levels of candidate pairs, and the random pairs the model's ``u`` comes from.

:func:`compare_pairs` turns pairs of records into comparison levels (salted fields and their
fallbacks included); the backends (:mod:`linkage.matching.backends`) run it over the
candidate pairs that blocking finds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from linkage.contracts import EncodedSource, SaltFallback
from linkage.matching.blocking import CandidatePairs
from linkage.matching.comparison import FieldComparison
from linkage.matching.similarity import dice_and_overlap, dice_similarity


@dataclass(frozen=True)
class ComparedPairs:
    """Candidate pairs (sorted by left, right) and their comparison levels."""

    pairs: CandidatePairs
    levels: np.ndarray  #: (P, fields) int8, -1 = missing


def compare_pairs(a: EncodedSource, b: EncodedSource, left: np.ndarray,
                  right: np.ndarray, comparisons: Sequence[FieldComparison]) -> np.ndarray:
    """Comparison level of every field for the pairs ``(a[left], b[right])``: (P, F) int8.

    A field salted with another (``hints.salted_by``) only says something when the salt
    agrees: where the salting field is not at its top level, the salted field is set to
    missing (-1, neutral), so the model scores it conditionally instead of counting the salt
    twice. A salt fallback (``hints.salt_fallbacks``, see
    :class:`~linkage.contracts.SaltFallback`) is the equality of one blocking pass's tokens,
    compared only where it says what the salted field cannot: where the salted field was
    not compared (and a gate field, if any, agrees: its filter at the top level or the equal
    tokens of a fallback gated on it, :func:`_gate_agrees`), or, for an either-order
    pass, where the salt agrees but both names disagree (neither
    :meth:`~linkage.matching.comparison.FieldComparison.agrees`: under BLIP noise one name
    written the same way lands below the top level a quarter of the time). Last, a noisy
    salted name near the top whose confirming pass's tokens are equal
    (``hints.confirmed_by``) is raised to the top level within a source (:func:`_confirm`),
    after the fallbacks have read the filters' own levels.
    """
    out = np.empty((len(left), len(comparisons)), dtype=np.int8)
    fallbacks = {fb.blocking_pass: fb for fb in a.hints.salt_fallbacks}
    for f, comp in enumerate(comparisons):
        if comp.name in fallbacks:
            j = a.blocking_names.index(comp.name)
            ka, kb = a.blocking_keys[left, j], b.blocking_keys[right, j]
            out[:, f] = comp.levels((ka == kb).astype(np.float32), (ka == 0) | (kb == 0))
            continue
        out[:, f] = _field_levels(a, b, left, right, comp)
    column = {comp.name: f for f, comp in enumerate(comparisons)}
    for salted, salt in a.hints.salted_by.items():
        if salted in column and salt in column:
            out[out[:, column[salt]] != 0, column[salted]] = -1
    tokens_agree = {name: out[:, column[name]] == 0 for name in fallbacks if name in column}
    compared = out.copy()  # the fields' own levels, before any fallback acts: a fallback's
    # activity must not depend on the order of the passes
    swaps = []
    for fb in fallbacks.values():
        if fb.blocking_pass not in column or fb.salted_field not in column:
            continue
        level = compared[:, column[fb.salted_field]]
        if fb.swapped_field is not None:  # both names compared, neither agreeing
            if fb.swapped_field not in column:
                continue
            swapped = compared[:, column[fb.swapped_field]]
            inactive = (level < 0) | (swapped < 0) | \
                comparisons[column[fb.salted_field]].agrees(level) | \
                comparisons[column[fb.swapped_field]].agrees(swapped)
        else:
            inactive = level >= 0
            if fb.gate_field is not None:
                if fb.gate_field not in column:
                    continue
                inactive |= ~_gate_agrees(compared[:, column[fb.gate_field]], fb,
                                          fallbacks.values(), tokens_agree)
        out[inactive, column[fb.blocking_pass]] = -1
        if fb.swapped_field is not None:
            swaps.append((out[:, column[fb.blocking_pass]] == 0, column[fb.salted_field],
                          column[fb.swapped_field]))
    _confirm(a, b, left, right, out, comparisons, column)
    for swap, given, family in swaps:  # names written the other way round: their own
        # comparisons' disagreement is what the swap explains, not more evidence
        out[swap, given] = -1
        out[swap, family] = -1
    return out


def _confirm(a: EncodedSource, b: EncodedSource, left: np.ndarray, right: np.ndarray,
             out: np.ndarray, comparisons: Sequence[FieldComparison],
             column: Mapping[str, int]) -> None:
    """Within one source (deduplication), raise a noisy salted field (``hints.confirmed_by``)
    from one of its top levels below the top (debiased Dice >= :data:`~linkage.matching.
    comparison.NOISY_CONFIRMED`) to the top level where its confirming pass's tokens are
    equal, in place in ``out`` (P, F).

    The tokens (the name's Soundex code with the salt) carry no BLIP noise, and noise sends
    a name written the same way below the top level about a quarter of the time: two
    records of one child with the same names and birth date at another address scored
    0.3-0.4 as duplicates. Between sources it is not done: the tokens prove the Soundex
    codes equal, not the spelling, and names alike in sound and bigrams sit near 0.7
    (Sophie and Sophia 0.71, Jon and John 0.67). Raised, Sophie/Sophia pairs on one birth
    date reached the top level 74% of the time against 21% (Sophie/Sophie 99.5%): twins with
    alike names, whose records agree on everything else, would tie where the given name is
    all that tells them apart. Within a source the twins gate (:class:`~linkage.matching.
    clustering.DedupGate`) keeps twins at one home apart on the filters themselves.
    Measured on the hard cohort (20,000 children, seeds 1-6, medians): duplicates 0.949 /
    0.995 / 0.964 -> 0.951 / 0.995 / 0.964, pairs between sources unchanged; between
    sources too, pairs 0.9948 / 0.9898 / 0.9932 and duplicates 0.953 / 0.995 / 0.963, and at
    200,000 children F1 0.9900 / 0.9837 / 0.9889 against 0.9887 / 0.9820 / 0.9882 and the
    largest calibration gap 0.106 against 0.160 (docs/matching.md): the gain that the twins'
    safety costs."""
    if a.partner != b.partner:
        return
    for salted, blocking_pass in a.hints.confirmed_by.items():
        if salted not in column or blocking_pass not in a.blocking_names \
                or a.hints.flip_probability.get(salted, 0.0) == 0.0:
            continue
        f = column[salted]
        j = a.blocking_names.index(blocking_pass)
        ka, kb = a.blocking_keys[left, j], b.blocking_keys[right, j]
        level = out[:, f]
        near = (level > 0) & (level < comparisons[f].confirmable_levels)
        level[near & (ka == kb) & (ka != 0)] = 0


def token_fields(a: EncodedSource, comparisons: Sequence[FieldComparison]) -> tuple[int, ...]:
    """The columns of ``comparisons`` that compare a blocking pass's tokens for equality
    (the salt fallbacks of ``a``'s schema): every pair whose tokens are equal is a
    candidate, so their agreement is counted among the candidates, not sampled."""
    passes = {fb.blocking_pass for fb in a.hints.salt_fallbacks}
    return tuple(f for f, comp in enumerate(comparisons) if comp.name in passes)


def _gate_agrees(gate_level: np.ndarray, fb: SaltFallback, fallbacks: Iterable[SaltFallback],
                 tokens_agree: Mapping[str, np.ndarray]) -> np.ndarray:
    """Where gated fallback ``fb``'s gate field agrees: (P,) bool. Its filter at the top
    level, or the equal tokens of *another* fallback gated on it (a token holds its gate
    field's exact value: under BLIP noise equal postcodes miss the top level a fifth of the
    time). Not ``fb``'s own tokens: then an equal token would be compared where an unequal
    one stays silent."""
    agrees = gate_level == 0
    for other in fallbacks:
        if other.gate_field == fb.gate_field and other.blocking_pass != fb.blocking_pass \
                and other.blocking_pass in tokens_agree:
            agrees = agrees | tokens_agree[other.blocking_pass]
    return agrees


def random_pair_levels(a: EncodedSource, b: EncodedSource,
                       comparisons: Sequence[FieldComparison], rng: np.random.Generator,
                       count: int, *, self_join: bool) -> np.ndarray:
    """Levels ``(Q, F)`` int8 of ``count`` random record pairs (distinct records when
    ``self_join``): almost all non-matches, so they give the model its ``u``."""
    ra = rng.integers(0, len(a), count)
    rb = rng.integers(0, len(b), count)
    keep = ra != rb if self_join else np.ones(len(ra), bool)
    return compare_pairs(a, b, ra[keep], rb[keep], comparisons)


def _field_levels(a: EncodedSource, b: EncodedSource, left: np.ndarray,
                  right: np.ndarray, comp: FieldComparison) -> np.ndarray:
    """Levels of one filter field for the pairs ``(a[left], b[right])``: (P,) int8."""
    k = a.field_names.index(comp.name)
    missing = a.missing[left, k] | b.missing[right, k]
    flip = a.hints.flip_probability.get(comp.name, 0.0)
    if comp.contained_at is not None:
        sim, overlap = dice_and_overlap(a.field_filters[comp.name], b.field_filters[comp.name],
                                        left, right, flip_probability=flip)
        return comp.levels(sim, missing, overlap)
    sim = dice_similarity(a.field_filters[comp.name], b.field_filters[comp.name], left, right,
                          flip_probability=flip)
    return comp.levels(sim, missing)


@dataclass(frozen=True)
class SaltSample:
    """Random pairs whose salt agrees, for the ``u`` of the fields it salts."""

    levels: np.ndarray          #: (Q, F) int8; the salt's own column is -1
    salted_columns: tuple[int, ...]  #: the columns (comparisons) the salt gates


def salt_agreeing_random_levels(a: EncodedSource, b: EncodedSource,
                                comparisons: Sequence[FieldComparison], rng: np.random.Generator,
                                *, self_join: bool, wanted: int = 20_000,
                                max_draws: int = 2_000_000, chunk: int = 500_000
                                ) -> list[SaltSample]:
    """Random pairs whose salt agrees, for the ``u`` of salted fields: one sample per salt.

    A salted field is compared only where its salt agrees, so among ordinary random pairs
    (almost none share a date of birth) it is nearly always missing, and its ``u`` would
    rest on a handful of pairs and the prior. Here pairs whose salt is at its top level are
    drawn directly: uniformly among pairs with identical salt filters when the salt carries
    no noise, else by drawing random pairs in chunks and keeping those at the top level
    (until ``wanted`` or ``max_draws``). Such pairs are *not* almost all non-matches (a
    random pair sharing a date of birth is a match far more often than a random pair), so
    the caller separates the two with the model (:meth:`FellegiSunter.mixture_u`); the
    salt's own level, the same in every pair, is set to missing so that it does not count
    as evidence.
    """
    column = {comp.name: f for f, comp in enumerate(comparisons)}
    salts: dict[str, list[int]] = {}
    # a fallback compared only where a field agrees needs its u among pairs agreeing there
    gated = [*a.hints.salted_by.items(),
             *((fb.blocking_pass, fb.gate_field) for fb in a.hints.salt_fallbacks
               if fb.gate_field is not None),
             *((fb.blocking_pass, a.hints.salted_by[fb.salted_field])
               for fb in a.hints.salt_fallbacks if fb.swapped_field is not None)]
    for salted, salt in gated:
        if salted in column and salt in column:
            salts.setdefault(salt, []).append(column[salted])
    out = []
    for salt, salted_columns in salts.items():
        if a.hints.flip_probability.get(salt, 0.0) == 0.0:  # exact filters: equal rows, directly
            left, right = _equal_row_pairs(a.field_filters[salt], b.field_filters[salt],
                                           rng, wanted, self_join=self_join)
        else:
            left, right = _top_level_pairs(a, b, comparisons[column[salt]], rng,
                                           wanted=wanted, max_draws=max_draws, chunk=chunk,
                                           self_join=self_join)
        levels = compare_pairs(a, b, left, right, comparisons)
        keep = levels[:, column[salt]] == 0
        levels = levels[keep]
        levels[:, column[salt]] = -1
        out.append(SaltSample(levels, tuple(sorted(salted_columns))))
    return out


def _equal_row_pairs(fa: np.ndarray, fb: np.ndarray, rng: np.random.Generator, wanted: int,
                     *, self_join: bool) -> tuple[np.ndarray, np.ndarray]:
    """``wanted`` random pairs (rows of ``fa``, rows of ``fb``) with identical filters, drawn
    uniformly from all such pairs: (Q,) int64 twice. Noise-free filters of equal values are
    identical, so this finds the pairs whose salt agrees without drawing millions."""
    both = np.ascontiguousarray(np.vstack([fa, fb]))
    rows = both.view(np.dtype((np.void, both.shape[1] * both.itemsize))).ravel()
    inverse = np.unique(rows, return_inverse=True)[1].ravel()
    ca, cb = inverse[:len(fa)], inverse[len(fa):]
    groups = int(inverse.max(initial=-1)) + 1
    na, nb = np.bincount(ca, minlength=groups), np.bincount(cb, minlength=groups)
    weight = (na * (na - 1) if self_join else na * nb).astype(np.float64)
    empty = np.zeros(0, dtype=np.int64)
    if groups == 0 or weight.sum() == 0:
        return empty, empty
    group = rng.choice(groups, size=wanted, p=weight / weight.sum())
    order_a, order_b = np.argsort(ca, kind="stable"), np.argsort(cb, kind="stable")
    start_a = np.concatenate([[0], np.cumsum(na)[:-1]])
    start_b = np.concatenate([[0], np.cumsum(nb)[:-1]])
    i = rng.integers(0, na[group])
    if self_join:  # a second, different member of the same group
        j = rng.integers(0, na[group] - 1)
        j = j + (j >= i)
        return order_a[start_a[group] + i], order_a[start_a[group] + j]
    j = rng.integers(0, nb[group])
    return order_a[start_a[group] + i], order_b[start_b[group] + j]


def _top_level_pairs(a: EncodedSource, b: EncodedSource, comp: FieldComparison,
                     rng: np.random.Generator, *, wanted: int, max_draws: int,
                     chunk: int, self_join: bool) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs whose (noisy) field ``comp`` is at its top level: drawn in chunks of
    ``chunk`` and kept, until ``wanted`` or ``max_draws``."""
    lefts, rights, kept, drawn = [], [], 0, 0
    while kept < wanted and drawn < max_draws:
        left = rng.integers(0, len(a), chunk)
        right = rng.integers(0, len(b), chunk)
        if self_join:
            left, right = left[left != right], right[left != right]
        drawn += chunk
        top = _field_levels(a, b, left, right, comp) == 0
        lefts.append(left[top])
        rights.append(right[top])
        kept += int(top.sum())
    return np.concatenate(lefts)[:wanted], np.concatenate(rights)[:wanted]
