"""The identifier-ties benchmark's rule: a true pair is tied when another child's record
agrees with the first record on at least the fields the true record agrees on."""

import pandas as pd

from benchmarks.identifier_ties import tied_share


def _frame(rows: list[tuple[str, str, str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["given_name", "family_name", "date_of_birth", "sex",
                                       "postcode", "person"])


def test_a_namesake_who_agrees_as_well_ties_and_one_who_agrees_less_does_not() -> None:
    small = _frame([("amy", "ray", "2020-01-01", "f", "ls11aa", 1),
                    ("ben", "cole", "2020-02-02", "m", "ls22bb", 2)])
    large = _frame([("amy", "ray", "2020-01-01", "f", "ls99zz", 1),   # amy moved
                    ("amy", "ray", "2020-01-01", "f", "ls88yy", 3),   # a namesake: ties
                    ("ben", "cole", "2020-02-02", "m", "ls22bb", 2),  # ben: all agree
                    ("ben", "cole", "2020-02-02", "m", "ls77xx", 4)])  # agrees on less
    pairs, share = tied_share(small, large)
    assert (pairs, share) == (2, 0.5)


def test_the_childs_own_duplicates_do_not_tie_and_nothing_agreeing_always_ties() -> None:
    small = _frame([("cat", "dee", "2021-03-03", "f", "", 5),
                    ("eve", "fox", "2021-04-04", "f", "ls33cc", 6)])
    large = _frame([("cat", "dee", "2021-03-03", "f", "ls44dd", 5),
                    ("cat", "dee", "2021-03-03", "f", "ls55ee", 5),   # her own second record
                    ("zed", "gil", "2019-05-05", "m", "ls66ff", 6)])  # nothing agrees
    pairs, share = tied_share(small, large)
    assert pairs == 3  # cat twice, eve once
    assert share == 1 / 3


def test_a_field_missing_on_both_sides_is_no_agreement() -> None:
    # the child's two records both lack a postcode; a namesake has one. Equal blanks must
    # not count as agreeing, or the namesake (who "disagrees" on it) would not tie
    small = _frame([("dan", "eck", "2022-06-06", "m", "", 7)])
    large = _frame([("dan", "eck", "2022-06-06", "m", "", 7),
                    ("dan", "eck", "2022-06-06", "m", "ls12ab", 8)])
    assert tied_share(small, large) == (1, 1.0)


def test_records_without_a_person_are_left_out() -> None:
    small = _frame([("fay", "gee", "2022-07-07", "f", "ls1", 9)])
    small.loc[1] = ["hal", "ivy", "2022-08-08", "m", "ls2", None]
    large = _frame([("fay", "gee", "2022-07-07", "f", "ls1", 9)])
    large.loc[1] = ["hal", "ivy", "2022-08-08", "m", "ls2", None]
    assert tied_share(small, large) == (1, 0.0)
