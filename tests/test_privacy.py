"""The frequency-alignment attack works on deterministic encodings and not on noisy ones."""

import numpy as np
import pandas as pd

from linkage.encoding import BloomFilterEncoder, EncodingSchema, HardeningSpec, ProjectKey
from linkage.encoding.normalise import normalise_names
from linkage.privacy import frequency_alignment_attack
from linkage.synth import Cohort

from .helpers import EXAMPLE


def _attack(cohort: Cohort, hardening: HardeningSpec) -> float:
    from linkage.protocols import load_agreement

    base = load_agreement(EXAMPLE / "agreement.yaml").agreement.encoding
    schema = EncodingSchema.model_validate({**base.model_dump(),
                                            "hardening": hardening.model_dump()})
    frame = cohort.extracts["health"]
    truth = normalise_names(frame.given_name.to_numpy(dtype=object))
    public = pd.Series(truth).value_counts()  # full overlap: the attacker's list is the cohort
    encodings = BloomFilterEncoder(schema, ProjectKey.generate()).encode(frame)
    held = ~encodings.missing[:, encodings.field_names.index("given_name")]
    return frequency_alignment_attack(encodings.field_filters["given_name"][held], public,
                                      truth[held]).record_rate


def test_attack_succeeds_on_deterministic_filters(small_cohort: Cohort) -> None:
    assert _attack(small_cohort, HardeningSpec()) > 0.15
    assert _attack(small_cohort, HardeningSpec(balance=True)) > 0.15  # still deterministic


def test_attack_fails_against_randomised_response(small_cohort: Cohort) -> None:
    assert _attack(small_cohort, HardeningSpec(blip_epsilon=4.0)) < 0.02


def test_scoring_counts_right_and_wrong_guesses() -> None:
    filters = np.array([[1], [1], [1], [2], [2], [3]], dtype=np.uint64)
    public = pd.Series({"ava": 10, "mia": 5, "zoe": 1})
    truth = np.array(["ava", "ava", "ava", "zoe", "zoe", "mia"], dtype=object)
    result = frequency_alignment_attack(filters, public, truth)
    # groups by size: [1]x3 -> ava (right), [2]x2 -> mia (wrong), [3]x1 -> zoe (wrong)
    assert result.records_correct == 3 and result.record_rate == 0.5
    assert (result.values_correct, result.values_guessed) == (1, 3)


def test_privacy_check_cli_applies_the_agreements_bar(tmp_path, small_cohort: Cohort,  # type: ignore[no-untyped-def]
                                                      capsys) -> None:
    from linkage.cli import main
    from linkage.synth import write_cohort

    from .helpers import copy_protocols, edit_yaml

    agreement = copy_protocols(tmp_path)
    write_cohort(small_cohort, tmp_path / "cohort")
    assert main(["keygen", "--out", str(tmp_path / "k.key")]) == 0
    assert main(["encode", "--agreement", str(agreement), "--partner", "health", "--key",
                 str(tmp_path / "k.key"), "--input", str(tmp_path / "cohort" / "health.csv"),
                 "--output", str(tmp_path / "h.npz"), "--quiet"]) == 0
    args = ["privacy-check", "--agreement", str(agreement), "--input", str(tmp_path / "h.npz"),
            "--reference", str(tmp_path / "cohort" / "health.csv")]
    assert main(args) == 0  # the example agreement sets no bar: rates are reported
    out = capsys.readouterr().out
    assert "given_name: frequency alignment:" in out and "family_name" in out
    edit_yaml(agreement, lambda d: d["encoding_requirements"].update(
        maximum_reidentification_rate=0.05))
    assert main(args) == 1
    assert "above the agreement's maximum_reidentification_rate" in capsys.readouterr().err
