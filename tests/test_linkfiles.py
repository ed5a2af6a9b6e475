"""The candidates file: pairs with their probabilities, old files, tampered files."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage.errors import InputDataError
from linkage.linkfiles import read_candidates
from linkage.matching.evaluation import candidate_calibration


def _save(path: Path, probability: np.ndarray | None, *, left_ids: int = 3) -> Path:
    arrays = {"pair0_names": np.asarray(["health", "education"]),
              "pair0_left": np.asarray(["h1", "h2", "h3"][:left_ids]),
              "pair0_right": np.asarray(["e1", "e2", "e3"])}
    if probability is not None:
        arrays["pair0_probability"] = probability
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def test_candidates_read_with_their_probabilities(tmp_path: Path) -> None:
    saved = read_candidates(_save(tmp_path / "c.npz", np.array([0.9, 0.05, 0.0])))
    assert [(c.left, c.right) for c in saved] == [("health", "education")]
    assert saved[0].probability is not None
    assert saved[0].probability.tolist() == [0.9, 0.05, 0.0]
    truth = pd.DataFrame({"partner": ["health"] * 3 + ["education"] * 3,
                          "record_id": ["h1", "h2", "h3", "e1", "e2", "e3"],
                          "person_id": ["a", "b", "c", "a", "x", "y"]})
    table = candidate_calibration(saved, truth)
    assert table.pairs.tolist() == [2, 1]  # 0.0 and 0.05 in the first decile, 0.9 in the last
    assert table.observed.tolist() == [0.0, 1.0]


def test_a_file_from_before_probabilities_reads_without_them(tmp_path: Path) -> None:
    saved = read_candidates(_save(tmp_path / "old.npz", None))
    assert saved[0].probability is None
    with pytest.raises(InputDataError, match="probability"):
        candidate_calibration(saved, pd.DataFrame(columns=["partner", "record_id",
                                                           "person_id"]))


@pytest.mark.parametrize("probability", [np.array([0.5, 1.5, 0.1]), np.array([0.5, np.nan, 0.1]),
                                         np.array([0.5, 0.1])])
def test_tampered_probabilities_are_refused(tmp_path: Path, probability: np.ndarray) -> None:
    path = _save(tmp_path / "bad.npz", probability)
    with pytest.raises(InputDataError, match="not a candidates file"):
        read_candidates(path)


def test_pairs_of_unequal_length_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="not a candidates file"):
        read_candidates(_save(tmp_path / "bad.npz", None, left_ids=2))
