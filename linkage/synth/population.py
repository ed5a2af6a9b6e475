"""The true population: children, their families, identifiers and postcodes.

Everything is vectorised over people; the result is a :class:`Population` of named
arrays (one entry per child), from which the service extracts are drawn.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.synth.config import CohortConfig
from linkage.synth.identifiers import generate_nhs_numbers, generate_upns
from linkage.synth.names import (
    FAMILY,
    FAMILY_TAIL,
    FAMILY_TAIL_SHARE,
    GIVEN_FEMALE,
    GIVEN_FEMALE_TAIL,
    GIVEN_MALE,
    GIVEN_MALE_TAIL,
    GIVEN_TAIL_SHARE,
    ORIGIN_WEIGHTS,
    NameTable,
)

_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
_FAMILY_SIZES = np.array([1, 2, 3, 4])
_FAMILY_SIZE_P = np.array([0.45, 0.35, 0.15, 0.05])


@dataclass(frozen=True)
class Population:
    """One row per child; arrays of equal length ``n``.

    String columns are object arrays of ``str``; dates are ``datetime64[D]``.
    """

    person_id: np.ndarray          # (n,) int64
    family_id: np.ndarray          # (n,) int64
    twin: np.ndarray               # (n,) bool, True for both children of a twin pair
    sex: np.ndarray                # (n,) object, "M" or "F"
    given_name: np.ndarray         # (n,) object
    middle_name: np.ndarray        # (n,) object, "" when none
    family_name: np.ndarray        # (n,) object (may be hyphenated or double-barrelled)
    other_family_name: np.ndarray  # (n,) object, a name a service may hold after a change
    date_of_birth: np.ndarray      # (n,) datetime64[D]
    postcode: np.ndarray           # (n,) object, postcode at birth
    postcode_now: np.ndarray       # (n,) object, equals postcode unless the child moved
    deprivation: np.ndarray        # (n,) float64 in [0, 1], of the birth postcode
    nhs_number: np.ndarray         # (n,) object, 10 digits
    upn: np.ndarray                # (n,) object, 13 characters

    def __len__(self) -> int:
        return len(self.person_id)


def _postcodes(config: CohortConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Distinct postcodes of the area and a deprivation score for each."""
    count = max(200, config.people // 12)
    district = rng.integers(1, 30, size=count * 2)
    sector = rng.integers(0, 10, size=count * 2)
    letters = rng.choice(_INWARD_LETTERS, size=(count * 2, 2))
    codes = np.unique(np.asarray(
        [f"{config.postcode_area}{d} {s}{a}{b}"
         for d, s, (a, b) in zip(district.tolist(), sector.tolist(), letters.tolist(),
                                 strict=True)], dtype=object))
    codes = rng.permutation(codes)[:count]
    # Deprivation clusters by district: a district level plus postcode-level noise.
    district_level = rng.beta(2, 2, size=40)
    districts = np.asarray([int(c.split()[0][len(config.postcode_area):]) for c in codes])
    deprivation = np.clip(district_level[districts] + rng.normal(0, 0.12, len(codes)), 0, 1)
    return codes, deprivation


def _family_layout(people: int, rng: np.random.Generator) -> np.ndarray:
    """Family id of each child, families of 1-4 children, exactly ``people`` children."""
    sizes = rng.choice(_FAMILY_SIZES, size=people, p=_FAMILY_SIZE_P)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), people)) + 1]
    family_id = np.repeat(np.arange(len(sizes)), sizes)[:people]
    return family_id


@functools.cache
def _name_tables(rare_names: bool) -> tuple[NameTable, NameTable, NameTable]:
    """(family, given male, given female) name tables, with long tails if ``rare_names``."""
    if not rare_names:
        return FAMILY, GIVEN_MALE, GIVEN_FEMALE
    return (FAMILY.with_tail(FAMILY_TAIL, FAMILY_TAIL_SHARE),
            GIVEN_MALE.with_tail(GIVEN_MALE_TAIL, GIVEN_TAIL_SHARE),
            GIVEN_FEMALE.with_tail(GIVEN_FEMALE_TAIL, GIVEN_TAIL_SHARE))


def _given_names(sex: np.ndarray, origin: np.ndarray, origins: tuple[str, ...],
                 rng: np.random.Generator, male: NameTable, female: NameTable) -> np.ndarray:
    out = np.empty(len(sex), dtype=object)
    for table, code in ((male, "M"), (female, "F")):
        mask = sex == code
        out[mask] = table.vocabulary[table.sample(origin[mask], origins, rng)]
    return out


def generate_population(config: CohortConfig, rng: np.random.Generator) -> Population:
    """Draw the true population described by ``config``."""
    n = config.people
    origins = tuple(ORIGIN_WEIGHTS)
    family_id = _family_layout(n, rng)
    families = int(family_id.max()) + 1

    # Family-level attributes, then broadcast to children.
    fam_origin = rng.choice(len(origins), size=families, p=list(ORIGIN_WEIGHTS.values()))
    family, male, female = _name_tables(config.rare_names)
    fam_name = family.vocabulary[family.sample(fam_origin, origins, rng)]
    second = family.vocabulary[family.sample(fam_origin, origins, rng)]
    double = (rng.random(families) < config.double_barrelled_rate) & (second != fam_name)
    joiner = np.where(rng.random(families) < 0.7, "-", " ")
    fam_name = np.where(double, fam_name + joiner + second, fam_name).astype(object)
    other_name = family.vocabulary[family.sample(fam_origin, origins, rng)]
    codes, code_deprivation = _postcodes(config, rng)
    fam_postcode = rng.integers(0, len(codes), size=families)

    origin = fam_origin[family_id]
    sex = np.where(rng.random(n) < 0.512, "M", "F").astype(object)
    start = np.datetime64(config.births_from, "D")
    span = int((np.datetime64(config.births_to, "D") - start).astype(int))
    dob = start + rng.integers(0, span + 1, size=n).astype("timedelta64[D]")

    # Twins: the second child of a family takes the first child's birth date.
    first_of_family = np.r_[True, family_id[1:] != family_id[:-1]]
    second_child = np.flatnonzero(~first_of_family & np.r_[False, first_of_family[:-1]])
    twin = np.zeros(n, dtype=bool)
    twin_second = second_child[rng.random(len(second_child)) < config.twin_rate * 2]
    dob[twin_second] = dob[twin_second - 1]
    twin[twin_second] = twin[twin_second - 1] = True

    given = _given_names(sex, origin, origins, rng, male, female)
    # Siblings (twins included) get different given names.
    for _ in range(50):
        frame = pd.DataFrame({"family": family_id, "given": given})
        same = np.flatnonzero(frame.duplicated(["family", "given"]).to_numpy())
        if not len(same):
            break
        given[same] = _given_names(sex[same], origin[same], origins, rng, male,
                                   female)
    middle = _given_names(sex, origin, origins, rng, male, female)
    middle = np.where((rng.random(n) < config.middle_name_rate) & (middle != given), middle, "")

    family_name = fam_name[family_id]
    # Unrelated namesakes: copy another child's full name, born the same year.
    namesakes = np.flatnonzero((rng.random(n) < config.namesake_rate) & ~twin)
    donors = rng.integers(0, n, size=len(namesakes))
    unrelated = family_id[donors] != family_id[namesakes]
    namesakes, donors = namesakes[unrelated], donors[unrelated]
    if len(namesakes):
        given[namesakes] = given[donors]
        family_name[namesakes] = family_name[donors]
        sex[namesakes] = sex[donors]
        donor_year = dob[donors].astype("datetime64[Y]")
        day_in_year = rng.integers(0, 365, size=len(namesakes)).astype("timedelta64[D]")
        dob[namesakes] = donor_year.astype("datetime64[D]") + day_in_year

    postcode_idx = fam_postcode[family_id]
    moved = rng.random(n) < config.move_rate
    # Families move together: a child moves if its family's first child does.
    moved = moved[np.searchsorted(family_id, family_id)]
    new_idx = np.where(moved, rng.integers(0, len(codes), size=n), postcode_idx)
    year_allocated = dob.astype("datetime64[Y]").astype(int) + 1970 + 3
    return Population(
        person_id=np.arange(n, dtype=np.int64),
        family_id=family_id.astype(np.int64),
        twin=twin,
        sex=sex,
        given_name=given,
        middle_name=middle.astype(object),
        family_name=family_name.astype(object),
        other_family_name=other_name[family_id],
        date_of_birth=dob,
        postcode=codes[postcode_idx],
        postcode_now=codes[new_idx],
        deprivation=code_deprivation[postcode_idx],
        nhs_number=generate_nhs_numbers(n, rng),
        upn=generate_upns(year_allocated, config.local_authority_code, rng),
    )
