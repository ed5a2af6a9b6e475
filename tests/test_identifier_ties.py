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
