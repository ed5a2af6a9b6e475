"""End to end: synth -> keygen -> encode -> match -> evaluate, and the match refusals."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.cohort_sources import encode_extracts
from linkage.cli import main
from linkage.encoding import ProjectKey, read_encodings, write_encodings
from linkage.errors import ProtocolError
from linkage.matching import Linker, pairwise_quality
from linkage.protocols import load_agreement
from linkage.steps import evaluate_links, match_encodings
from linkage.synth import Cohort

from .helpers import copy_protocols, edit_yaml, encoded_workspace

PARTNERS = ("health", "education", "social_care")


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, small_cohort: Cohort) -> Path:
    return encoded_workspace(tmp_path_factory.mktemp("flow"), small_cohort)


def test_whole_flow_links_well(encoded: Path, small_cohort: Cohort,
                               capsys: pytest.CaptureFixture[str]) -> None:
    ws = encoded
    out = ws / "links"
    args = ["match", "--agreement", str(ws / "protocols" / "agreement.yaml"), "--output",
            str(out), "--save-candidates", "--quiet",
            *(str(ws / "enc" / f"{p}.npz") for p in PARTNERS)]
    assert main(args) == 0
    record_ids = {}
    for partner in PARTNERS:  # each provider's file: its own records, every one, keyed
        frame = pd.read_csv(out / f"{partner}.csv", dtype=str)
        assert list(frame.columns) == ["link_key", "partner", "record_id"]
        assert set(frame.partner) == {partner} and frame.record_id.is_unique
        assert len(frame) == len(small_cohort.extracts[partner])
        assert frame.link_key.str.fullmatch(r"[0-9a-f]{24}").all()
        record_ids[partner] = set(frame.record_id)
    for partner in PARTNERS:  # no file holds another provider's record ids
        text = (out / f"{partner}.csv").read_text()
        others = set().union(*(ids for p, ids in record_ids.items() if p != partner))
        assert not any(rid in text for rid in list(others)[:500])
    quality_file = pd.read_csv(out / "link-quality.csv", dtype={"link_key": str})
    assert list(quality_file.columns) == ["link_key", "probability"]
    assert quality_file.probability.between(0.5, 1).all()
    evaluation = evaluate_links(links=[out / f"{p}.csv" for p in PARTNERS],
                                truth=ws / "cohort" / "truth.csv")
    quality = evaluation.quality
    for pair in (("education", "health"), ("health", "social_care"),
                 ("education", "social_care")):
        assert quality.by_partner_pair[pair].f1 > 0.95, pair
    assert evaluation.blocking is not None
    assert (evaluation.blocking.pairs_completeness > 0.97).all()
    assert (evaluation.blocking.reduction_ratio > 0.95).all()
    calibration = evaluation.calibration  # saved probabilities against the truth
    assert calibration is not None and calibration.pairs.sum() > 0
    ends = calibration[(calibration.low == 0.0) | (calibration.high == 1.0)]
    assert (ends.gap.abs() < 0.05).all()  # the end bins hold nearly every pair
    assert ((calibration.observed_low <= calibration.observed)
            & (calibration.observed <= calibration.observed_high)).all()
    assert evaluation.calibration_chance is not None  # what chance alone would show
    chance_median, chance_high = evaluation.calibration_chance
    assert 0.0 < chance_median <= chance_high < 1.0
    assert main(["evaluate", "--links", *(str(out / f"{p}.csv") for p in PARTNERS),
                 "--truth", str(ws / "cohort" / "truth.csv")]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "pairs_completeness" in out and "calibration" in out
    assert "a perfectly calibrated model would show" in out
    assert "no key" not in out


def test_encodings_under_different_keys_do_not_link(encoded: Path,
                                                    small_cohort: Cohort) -> None:
    loaded = load_agreement(encoded / "protocols" / "agreement.yaml")
    extracts = {p: small_cohort.extracts[p] for p in ("health", "education")}
    sources = encode_extracts(extracts, loaded, keys={p: ProjectKey.generate() for p in extracts})
    result = Linker().link(sources)
    truth = small_cohort.truth
    f1 = pairwise_quality(result.links, truth).by_partner_pair.get(
        ("education", "health"))
    assert f1 is None or f1.f1 < 0.02


def _refuse(ws: Path, agreement: Path, files: list[Path], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        match_encodings(agreement=agreement, encodings=files, output=ws / "refused")
    assert not list((ws / "refused").glob("*.csv")) if (ws / "refused").exists() else True


def test_refuses_other_agreement_version(encoded: Path, tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d.update(version="2.0"))
    _refuse(tmp_path, agreement, [encoded / "enc" / f"{p}.npz" for p in PARTNERS],
            "not version 2.0")


def test_refuses_other_parameters(encoded: Path, tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d["encoding"]["fields"][0].update(bits_per_token=11))
    # the encoding is part of the agreement's content: same version, other content
    _refuse(tmp_path, agreement, [encoded / "enc" / f"{p}.npz" for p in PARTNERS],
            "other content of agreement 'first-1000-days' version 1.4")


def test_refuses_non_provider_and_duplicates(encoded: Path, tmp_path: Path) -> None:
    agreement = encoded / "protocols" / "agreement.yaml"
    health = read_encodings(encoded / "enc" / "health.npz")
    fake = write_encodings(tmp_path / "analysts.npz", health.encodings.named("analysts"),
                           schema=health.schema, agreement_id=health.agreement_id,
                           agreement_version=health.agreement_version)
    _refuse(tmp_path, agreement, [encoded / "enc" / "health.npz", fake], "not a data_provider")
    _refuse(tmp_path, agreement, [encoded / "enc" / "health.npz"] * 2, "second encoding file")
    assert np.all(health.encodings.record_filters == read_encodings(
        encoded / "enc" / "health.npz").encodings.record_filters)
