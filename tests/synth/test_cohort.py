from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from linkage.errors import InputDataError
from linkage.synth import (
    EXTRACT_COLUMNS,
    HEALTH,
    SOCIAL_CARE,
    TRUTH_COLUMNS,
    Cohort,
    CohortConfig,
    Population,
    ServiceProfile,
    cohort_config,
    generate_cohort,
    generate_population,
    is_valid_nhs_number,
    is_valid_upn,
    write_cohort,
)


def test_schema(small_cohort: Cohort) -> None:
    assert set(small_cohort.extracts) == {"health", "education", "social_care"}
    for name, frame in small_cohort.extracts.items():
        assert tuple(frame.columns) == EXTRACT_COLUMNS[name]
        assert frame["record_id"].is_unique
        dob = pd.to_datetime(frame["date_of_birth"], format="%Y-%m-%d")
        assert dob.notna().all()
    assert tuple(small_cohort.truth.columns) == TRUTH_COLUMNS


def test_truth_covers_every_record_and_ids_are_opaque(small_cohort: Cohort) -> None:
    truth = small_cohort.truth
    for name, frame in small_cohort.extracts.items():
        mine = truth[truth.partner == name]
        assert set(mine.record_id) == set(frame.record_id)
        # record ids say nothing about the person, and file order is shuffled
        assert not set(frame.record_id) & set(mine.person_id.astype(str))
        order = mine.set_index("record_id").loc[frame.record_id, "person_id"].to_numpy()
        assert not np.all(np.diff(order) >= 0)


def test_deterministic_for_a_seed() -> None:
    a = generate_cohort(CohortConfig(people=500, seed=5))
    b = generate_cohort(CohortConfig(people=500, seed=5))
    c = generate_cohort(CohortConfig(people=500, seed=6))
    for name in a.extracts:
        pd.testing.assert_frame_equal(a.extracts[name], b.extracts[name])
    assert not a.extracts["health"].equals(c.extracts["health"])


def test_identifiers_valid(small_cohort: Cohort) -> None:
    health = small_cohort.extracts["health"]
    present = health.nhs_number[health.nhs_number != ""]
    assert all(is_valid_nhs_number(n) for n in present)
    assert all(is_valid_upn(u) for u in small_cohort.extracts["education"].upn)


def _per_person(cohort: Cohort, partner: str) -> pd.DataFrame:
    truth = cohort.truth[cohort.truth.partner == partner]
    return cohort.extracts[partner].merge(truth, on="record_id")


def test_coverage_within_tolerance(medium_cohort: Cohort) -> None:
    people = 40_000
    for partner, expected in (("health", 0.98), ("education", 0.75), ("social_care", 0.08)):
        share = _per_person(medium_cohort, partner).person_id.nunique() / people
        assert share == pytest.approx(expected, abs=0.02), partner


def test_social_care_skews_to_deprived_postcodes(medium_population: tuple[CohortConfig, Population],
                                                 medium_cohort: Cohort) -> None:
    _, pop = medium_population
    held = _per_person(medium_cohort, "social_care").person_id.unique()
    assert pop.deprivation[held].mean() > pop.deprivation.mean() + 0.1


def test_duplicates_within_a_source(medium_cohort: Cohort) -> None:
    for partner, profile in (("health", HEALTH), ("social_care", SOCIAL_CARE)):
        rows = _per_person(medium_cohort, partner)
        rate = rows.person_id.duplicated().sum() / rows.person_id.nunique()
        assert rate == pytest.approx(profile.duplicate, abs=max(0.01, profile.duplicate / 2))


def test_corruption_rates(medium_population: tuple[CohortConfig, Population],
                          medium_cohort: Cohort) -> None:
    _, pop = medium_population
    health = _per_person(medium_cohort, "health")
    social = _per_person(medium_cohort, "social_care")
    true_dob = np.datetime_as_string(pop.date_of_birth, unit="D")

    def dob_error(frame: pd.DataFrame) -> float:
        return float((frame.date_of_birth.to_numpy() != true_dob[frame.person_id]).mean())

    assert dob_error(health) == pytest.approx(0.004, abs=0.003)
    assert dob_error(social) > dob_error(health)
    assert dob_error(social) == pytest.approx(0.025, abs=0.015)
    nhs_present = (social.nhs_number != "").mean()
    assert nhs_present == pytest.approx(SOCIAL_CARE.nhs_number_present, abs=0.05)
    assert (health.sex == "").mean() < 0.005

    def given_differs(frame: pd.DataFrame) -> float:
        return float((frame.given_name.to_numpy() != pop.given_name[frame.person_id]).mean())

    # social care is the noisiest service, health the cleanest
    assert 0.01 < given_differs(health) < 0.1
    assert given_differs(social) > 2 * given_differs(health)


def test_twins_and_namesakes(medium_population: tuple[CohortConfig, Population]) -> None:
    config, pop = medium_population
    twins = np.flatnonzero(pop.twin)
    assert len(twins) > 0.5 * config.twin_rate * len(pop)
    frame = pd.DataFrame({"family": pop.family_id[twins], "dob": pop.date_of_birth[twins],
                          "given": pop.given_name[twins], "family_name": pop.family_name[twins],
                          "postcode": pop.postcode[twins]})
    for _, group in frame.groupby(["family", "dob"]):
        assert len(group) == 2
        assert group.given.nunique() == 2
        assert group.family_name.nunique() == 1 and group.postcode.nunique() == 1
    key = pd.DataFrame({"g": pop.given_name, "f": pop.family_name,
                        "y": pop.date_of_birth.astype("datetime64[Y]"), "fam": pop.family_id})
    namesakes = key[key.duplicated(["g", "f", "y"], keep=False)]
    assert namesakes.groupby(["g", "f", "y"]).fam.nunique().max() > 1


def test_name_frequencies_are_skewed(medium_population: tuple[CohortConfig, Population]) -> None:
    _, pop = medium_population
    counts = pd.Series(pop.given_name).value_counts()
    top10 = counts.head(10).sum() / len(pop)
    assert 0.10 <= top10 <= 0.15
    assert counts.size > 300  # diverse: hundreds of distinct names


def test_bad_rates_refused() -> None:
    with pytest.raises(InputDataError, match="'typo_given' rate"):
        ServiceProfile(name="health", coverage=0.5, typo_given=1.5)
    with pytest.raises(InputDataError, match="'people'"):
        CohortConfig(people=0)


def test_write_refuses_non_empty_folder(tmp_path, small_cohort: Cohort) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(InputDataError, match="not empty"):
        write_cohort(small_cohort, tmp_path)
    paths = write_cohort(small_cohort, tmp_path, force=True)
    assert {p.name for p in paths} == {"health.csv", "education.csv", "social_care.csv",
                                       "truth.csv"}
    back = pd.read_csv(tmp_path / "health.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, small_cohort.extracts["health"].astype(str))
    assert not list(tmp_path.glob("*.tmp"))


def test_hard_profile_is_harder_and_its_errors_come_together() -> None:
    standard = generate_cohort(cohort_config("standard", people=6_000, seed=2))
    hard = generate_cohort(cohort_config("hard", people=6_000, seed=2))

    def errors(cohort: Cohort, partner: str) -> pd.DataFrame:
        rows = cohort.extracts[partner].merge(cohort.truth[cohort.truth.partner == partner],
                                              on="record_id")
        health = cohort.extracts["health"].merge(
            cohort.truth[cohort.truth.partner == "health"], on="record_id"
        ).drop_duplicates("person_id").set_index("person_id")
        rows = rows[rows.person_id.isin(health.index)]  # compared with the health record
        ref = health.reindex(rows.person_id)
        return pd.DataFrame({"dob": rows.date_of_birth.to_numpy() != ref.date_of_birth.to_numpy(),
                             "postcode": rows.postcode.to_numpy() != ref.postcode.to_numpy(),
                             "missing_dob": rows.date_of_birth.to_numpy() == ""})

    soft, rough = errors(standard, "education"), errors(hard, "education")
    assert rough.dob.mean() > 2 * soft.dob.mean()
    assert rough.postcode.mean() > soft.postcode.mean()
    assert soft.missing_dob.sum() == 0 and rough.missing_dob.mean() > 0.004
    # careless records: a wrong date comes with a wrong postcode more often than not (at the
    # profile's 5% of careless records the lift is about 0.04 +- 0.02 at this size, too
    # close to call; with 30% it is about 0.1)
    config = cohort_config("hard", people=6_000, seed=2)
    careless = generate_cohort(replace(config, services=tuple(
        replace(s, careless=0.3) if s.name == "education" else s for s in config.services)))
    rough = errors(careless, "education")
    assert rough.postcode[rough.dob].mean() > rough.postcode[~rough.dob].mean() + 0.05


def test_hard_duplicates_are_re_registered_elsewhere() -> None:
    cohort = generate_cohort(cohort_config("hard", people=6_000, seed=3))
    rows = cohort.extracts["education"].merge(
        cohort.truth[cohort.truth.partner == "education"], on="record_id")
    twice = rows[rows.person_id.duplicated(keep=False)].sort_values("person_id")
    firsts, seconds = twice.groupby("person_id").nth(0), twice.groupby("person_id").nth(1)
    assert len(firsts) > 20
    other_address = (firsts.postcode.to_numpy() != seconds.postcode.to_numpy()).mean()
    assert other_address > 0.6
    assert (firsts.upn.to_numpy() != seconds.upn.to_numpy()).mean() > 0.6
    assert all(is_valid_upn(u) for u in seconds.upn)


def test_unknown_profile_and_bad_careless_factor_are_refused() -> None:
    with pytest.raises(InputDataError, match="profile"):
        cohort_config("harder")
    with pytest.raises(InputDataError, match="careless_factor"):
        ServiceProfile(name="health", coverage=0.5, careless_factor=0.5)


def test_rare_names_spread_the_names_like_a_register() -> None:
    def top_ten_share(config_name: str) -> tuple[float, int]:
        config = cohort_config(config_name, people=6_000, seed=1)
        people = generate_population(config, np.random.default_rng(1))
        counts = pd.Series(people.family_name).value_counts()
        return float(counts.iloc[:10].sum() / counts.sum()), len(counts)

    crowded, crowded_names = top_ten_share("standard")
    spread, spread_names = top_ten_share("hard")  # rare_names=True
    assert crowded > 0.2 and spread < 0.12  # England and Wales: about 0.06
    assert spread_names > 3 * crowded_names
