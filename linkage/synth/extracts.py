"""Service extracts drawn from the true population, with ground truth.

The column names of each extract are a contract (see ``docs/synthetic-cohort.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.synth import corruption as cx
from linkage.synth.config import CohortConfig, ServiceProfile
from linkage.synth.identifiers import generate_upns
from linkage.synth.population import Population

#: Columns of each extract, in file order (a contract).
EXTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "health": ("record_id", "nhs_number", "given_name", "family_name", "sex", "date_of_birth",
               "postcode", "birth_weight_g", "smoking_in_pregnancy"),
    "education": ("record_id", "upn", "given_name", "family_name", "preferred_name", "sex",
                  "date_of_birth", "postcode", "good_level_of_development", "fsm_eligible"),
    "social_care": ("record_id", "nhs_number", "given_name", "family_name", "sex",
                    "date_of_birth", "postcode", "referral_date", "cin_category"),
}
TRUTH_COLUMNS = ("partner", "record_id", "person_id")
_RECORD_PREFIX = {"health": "H", "education": "E", "social_care": "S"}
_CIN = np.array(["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"], dtype=object)
_CIN_P = np.array([0.55, 0.08, 0.05, 0.12, 0.1, 0.02, 0.01, 0.03, 0.04])


@dataclass(frozen=True)
class Cohort:
    """The extracts of every service and who is who.

    ``extracts`` maps a partner name to its DataFrame (columns as in
    :data:`EXTRACT_COLUMNS`, all ``str``; empty string for missing). ``truth`` has one row
    per record: ``partner, record_id, person_id``.
    """

    extracts: dict[str, pd.DataFrame]
    truth: pd.DataFrame


def _select_people(pop: Population, profile: ServiceProfile,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Person indices held by the service, duplicates included (unsorted), and which rows
    are the duplicates: (m,) int64 and (m,) bool."""
    # Exponential in deprivation, scaled to mean 1 so the overall coverage is kept.
    weight = np.exp(4.0 * profile.deprivation_skew * pop.deprivation)
    weight /= weight.mean()
    held = np.flatnonzero(rng.random(len(pop)) < np.clip(profile.coverage * weight, 0, 1))
    dupes = held[rng.random(len(held)) < profile.duplicate]
    return (np.concatenate([held, dupes]),
            np.r_[np.zeros(len(held), bool), np.ones(len(dupes), bool)])


class _Rates:
    """A profile's error rates, per record: scaled up for the careless records."""

    def __init__(self, profile: ServiceProfile, scale: np.ndarray | None) -> None:
        self.profile, self.scale = profile, scale

    def __getattr__(self, name: str) -> float | np.ndarray:
        rate = float(getattr(self.profile, name))
        return rate if self.scale is None else np.clip(rate * self.scale, 0.0, 1.0)


def _names(pop: Population, people: np.ndarray, rates: _Rates,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    given = pop.given_name[people].copy()
    family = pop.family_name[people].copy()
    changed = rng.random(len(people)) < rates.family_name_change
    family[changed] = pop.other_family_name[people][changed]
    family = cx.apply(family, rates.family_name_part, rng, cx.family_name_part)
    given = cx.apply(given, rates.spelling_variant, rng, cx.spelling_variant)
    family = cx.apply(family, rates.spelling_variant, rng, cx.spelling_variant)
    given = cx.apply(given, rates.nickname, rng, cx.nickname)
    middle = pop.middle_name[people]
    with_middle = (rng.random(len(people)) < rates.middle_in_given) & (middle != "")
    given[with_middle] = given[with_middle] + " " + middle[with_middle]
    given = cx.apply(given, rates.typo_given, rng, cx.typo)
    family = cx.apply(family, rates.typo_family, rng, cx.typo)
    swap = rng.random(len(people)) < rates.name_swap
    given[swap], family[swap] = family[swap], given[swap].copy()
    for column in (given, family):
        column[:] = cx.apply(column, rates.strip_diacritics, rng,
                             lambda v, _r: cx.strip_diacritics(v))
        column[:] = cx.apply(column, rates.upper_case, rng, lambda v, _r: v.upper())
        column[:] = cx.apply(column, rates.whitespace_noise, rng, cx.whitespace_noise)
    return given, family


def _blank(values: np.ndarray, rate: float | np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    out = values.astype(object).copy()
    out[rng.random(len(out)) < rate] = ""
    return out


def _dates_to_str(dates: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(dates, unit="D").astype(object)


def _service_columns(pop: Population, people: np.ndarray, config: CohortConfig,
                     profile: ServiceProfile, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The service-specific attribute columns."""
    n = len(people)
    dep = pop.deprivation[people]
    dob = pop.date_of_birth[people]
    if profile.name == "health":
        weight = rng.normal(3400, 520, n) - 800 * pop.twin[people]
        return {
            "birth_weight_g": np.clip(weight, 600, 5500).round().astype(int).astype(str),
            "smoking_in_pregnancy": np.where(rng.random(n) < 0.05 + 0.15 * dep, "Y", "N"),
        }
    if profile.name == "education":
        assessed = dob <= np.datetime64("2019-08-31") + np.timedelta64(366, "D")
        gld = np.where(rng.random(n) < 0.75 - 0.25 * dep, "Y", "N")
        return {
            "upn": pop.upn[people],
            "preferred_name": np.where(
                rng.random(n) < 0.12,
                cx.apply(pop.given_name[people], 1.0, rng, cx.nickname), ""),
            "good_level_of_development": np.where(assessed, gld, ""),
            "fsm_eligible": np.where(rng.random(n) < 0.08 + 0.35 * dep, "Y", "N"),
        }
    extract = np.datetime64(config.extract_date, "D")
    age_days = np.maximum((extract - dob).astype(int), 1)
    referral = dob + (rng.random(n) * age_days).astype(int).astype("timedelta64[D]")
    return {
        "referral_date": _dates_to_str(referral),
        "cin_category": rng.choice(_CIN, size=n, p=_CIN_P),
    }


def _extract(pop: Population, config: CohortConfig, profile: ServiceProfile,
             rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    people, duplicate = _select_people(pop, profile, rng)
    order = rng.permutation(len(people))
    people, duplicate = people[order], duplicate[order]
    n = len(people)
    careless = (rng.random(n) < profile.careless if profile.careless > 0
                else np.zeros(n, dtype=bool))
    rates = _Rates(profile, np.where(careless, profile.careless_factor, 1.0)
                   if careless.any() else None)
    given, family = _names(pop, people, rates, rng)
    dob = cx.shift_dates(pop.date_of_birth[people], rng, swap=rates.dob_day_month_swap,
                         day=rates.dob_off_by_day, year=rates.dob_off_by_year)
    moved_on = (rng.random(n) < profile.postcode_after_move) & ~careless  # stale if careless
    postcode = np.where(moved_on, pop.postcode_now[people], pop.postcode[people])
    if careless.any():  # half of the careless records hold an address from before a move
        stale = careless & (rng.random(n) < 0.5)
        postcode[stale] = rng.choice(pop.postcode_now, size=int(stale.sum()))
    elsewhere = duplicate & (rng.random(n) < profile.duplicate_elsewhere) \
        if profile.duplicate_elsewhere > 0 else np.zeros(n, dtype=bool)
    if elsewhere.any():  # re-registered after another move: a new address
        postcode[elsewhere] = rng.choice(pop.postcode_now, size=int(elsewhere.sum()))
    dates = _dates_to_str(dob)
    if profile.missing_dob > 0:
        dates = _blank(dates, rates.missing_dob, rng)
    columns: dict[str, np.ndarray] = {
        "record_id": _record_ids(_RECORD_PREFIX[profile.name], n, rng),
        "nhs_number": _blank(pop.nhs_number[people], 1 - profile.nhs_number_present, rng),
        "given_name": given,
        "family_name": family,
        "sex": _blank(pop.sex[people], rates.missing_sex, rng),
        "date_of_birth": dates,
        "postcode": _blank(postcode, rates.missing_postcode, rng),
    }
    columns.update(_service_columns(pop, people, config, profile, rng))
    if elsewhere.any() and "upn" in columns:  # a new school gives a new pupil number
        years = pop.date_of_birth[people[elsewhere]].astype("datetime64[Y]").astype(int) + 1973
        columns["upn"] = columns["upn"].copy()
        columns["upn"][elsewhere] = generate_upns(years, config.local_authority_code, rng)
    frame = pd.DataFrame({c: columns[c] for c in EXTRACT_COLUMNS[profile.name]}, dtype=object)
    return frame, people


def _record_ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct opaque ids like ``H3f9a01c2d7``; unrelated to the person."""
    ids = np.unique(rng.integers(0, 2**40, size=int(n * 1.01) + 8, dtype=np.int64))
    while len(ids) < n:  # pragma: no cover - astronomically unlikely
        ids = np.unique(np.r_[ids, rng.integers(0, 2**40, size=n, dtype=np.int64)])
    ids = rng.permutation(ids)[:n]
    return np.asarray([f"{prefix}{x:010x}" for x in ids.tolist()], dtype=object)


def draw_extracts(pop: Population, config: CohortConfig,
                  rng: np.random.Generator) -> Cohort:
    """Draw every configured service's extract from ``pop``."""
    extracts: dict[str, pd.DataFrame] = {}
    truth_parts = []
    for profile in config.services:
        if profile.name not in EXTRACT_COLUMNS:
            raise ValueError(f"Unknown service '{profile.name}'; expected one of "
                             f"{', '.join(EXTRACT_COLUMNS)}.")
        frame, people = _extract(pop, config, profile, rng)
        extracts[profile.name] = frame
        truth_parts.append(pd.DataFrame({
            "partner": profile.name, "record_id": frame["record_id"].to_numpy(),
            "person_id": pop.person_id[people]}))
    truth = pd.concat(truth_parts, ignore_index=True)
    return Cohort(extracts=extracts, truth=truth)
