"""What the IG leads signed is what runs: content-bound agreements, sign-offs, parties bound
to keys, and artefacts checked before use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from linkage.cli import main
from linkage.encoding import read_encodings, write_encodings
from linkage.errors import ProtocolError
from linkage.protocols import load_agreement
from linkage.protocols.provenance import provenance_path, read_provenance
from linkage.protocols.signoff import content_digest, sign_off_status
from linkage.steps import encode_extract, match_encodings, release_attributes
from linkage.synth import Cohort, write_cohort

from ..helpers import PROVIDERS, copy_protocols, edit_yaml

PARTIES = ("health", "education", "social_care", "linkage_unit")


@pytest.fixture()
def keyed(tmp_path: Path, small_cohort: Cohort) -> Path:
    """A copy of the example agreement whose parties list Ed25519 keys and require
    sign-off; each party's key in keys/PARTY.pem; extracts and a project key."""
    agreement = copy_protocols(tmp_path)
    for party in (*PARTIES, "analysts"):
        assert main(["audit", "keygen", "--out", str(agreement.parent / "keys" /
                                                     f"{party}.pem")]) == 0

    def listed(data: dict) -> None:  # type: ignore[type-arg]
        for ref in data["parties"]:
            ref["public_key"] = f"keys/{ref['name']}.pem.pub"
        data["sign_off"] = {"required": True}

    edit_yaml(agreement, listed)
    write_cohort(small_cohort.__class__(
        {p: f.head(600) for p, f in small_cohort.extracts.items()}, small_cohort.truth),
        tmp_path / "cohort")
    assert main(["keygen", "--out", str(tmp_path / "project.key")]) == 0
    return tmp_path


def _sign_all(ws: Path) -> None:
    agreement = ws / "protocols" / "agreement.yaml"
    for party in (*PARTIES, "analysts"):
        assert main(["protocol", "sign", str(agreement), "--party", party, "--key",
                     str(ws / "protocols" / "keys" / f"{party}.pem"), "--name", "A. Person",
                     "--role", "DPO"]) == 0


def _key(ws: Path, party: str) -> Path:
    return ws / "protocols" / "keys" / f"{party}.pem"


def _encode(ws: Path, partner: str, *, signer: str | None = None) -> Path:
    out = ws / "enc" / f"{partner}.npz"
    encode_extract(agreement=ws / "protocols" / "agreement.yaml", partner=partner,
                   key=ws / "project.key", input=ws / "cohort" / f"{partner}.csv", output=out,
                   signing_key=_key(ws, signer or partner))
    return out


def test_steps_refuse_until_every_party_has_signed_this_content(keyed: Path) -> None:
    agreement = keyed / "protocols" / "agreement.yaml"
    with pytest.raises(ProtocolError, match=r"sign_off\.required: not signed by"):
        _encode(keyed, "health")
    assert main(["protocol", "verify", str(agreement)]) == 1
    _sign_all(keyed)
    assert main(["protocol", "verify", str(agreement)]) == 0
    _encode(keyed, "health")
    # an edit after sign-off, under the same version, voids every sign-off
    edit_yaml(agreement, lambda d: d["disclosure_control"].update(minimum_cell_count=5))
    status = sign_off_status(load_agreement(agreement))
    assert set(status.invalid) == {*PARTIES, "analysts"} and not status.signed
    with pytest.raises(ProtocolError, match="for other content"):
        _encode(keyed, "education")


def test_a_party_must_sign_with_its_own_listed_key(keyed: Path) -> None:
    _sign_all(keyed)
    with pytest.raises(ProtocolError, match="not 'health''s listed key"):
        _encode(keyed, "health", signer="education")
    with pytest.raises(ProtocolError, match="lists a public key"):
        encode_extract(agreement=keyed / "protocols" / "agreement.yaml", partner="health",
                       key=keyed / "project.key", input=keyed / "cohort" / "health.csv",
                       output=keyed / "enc" / "h.npz")
    assert main(["protocol", "sign", str(keyed / "protocols" / "agreement.yaml"), "--party",
                 "health", "--key", str(_key(keyed, "education")), "--name", "X", "--role",
                 "DPO"]) == 2


def test_artefacts_carry_provenance_and_forgeries_are_refused(keyed: Path) -> None:
    _sign_all(keyed)
    agreement = keyed / "protocols" / "agreement.yaml"
    files = [_encode(keyed, p) for p in PROVIDERS]
    made = read_provenance(files[0])
    assert made is not None and made.made_by == "health" and made.signature
    assert made.digest == content_digest(load_agreement(agreement))
    log = [json.loads(x) for x in (keyed / "enc" / "audit.jsonl").read_text().splitlines()]
    assert made.audit_chain_head == log[0]["hash"]
    assert log[0]["agreement"]["digest"] == made.digest
    # relabel health's file as education's: the header is not education's to sign
    forged = read_encodings(files[0])
    relabelled = write_encodings(keyed / "forged" / "education.npz",
                                 forged.encodings.named("education"), schema=forged.schema,
                                 agreement_id=forged.agreement_id,
                                 agreement_version=forged.agreement_version,
                                 agreement_digest=forged.agreement_digest)
    provenance_path(relabelled).write_text(provenance_path(files[1]).read_text())
    with pytest.raises(ProtocolError, match="differ from those its provenance records"):
        match_encodings(agreement=agreement, encodings=[files[0], relabelled],
                        output=keyed / "links", signing_key=_key(keyed, "linkage_unit"))
    # no provenance at all, from a party that lists a key
    bare = keyed / "bare" / "education.npz"
    bare.parent.mkdir()
    bare.write_bytes(files[1].read_bytes())
    with pytest.raises(ProtocolError, match="has no provenance file"):
        match_encodings(agreement=agreement, encodings=[files[0], bare],
                        output=keyed / "links", signing_key=_key(keyed, "linkage_unit"))
    result = match_encodings(agreement=agreement, encodings=files, output=keyed / "links",
                             signing_key=_key(keyed, "linkage_unit"))
    own = result.files["health"]
    release = dict(agreement=agreement, links=own, partner="health",
                   input=keyed / "cohort" / "health.csv", recipient="analysts",
                   signing_key=_key(keyed, "health"))
    release_attributes(**release, output=keyed / "out" / "ok.csv")  # type: ignore[arg-type]
    # links edited after the linkage unit signed them are refused
    text = own.read_text().splitlines()
    own.write_text("\n".join([text[0], text[2], text[1], *text[3:]]) + "\n")
    with pytest.raises(ProtocolError, match="altered"):
        release_attributes(**release, output=keyed / "out" / "again.csv")  # type: ignore[arg-type]


def test_links_made_under_one_version_are_not_released_under_another(tmp_path: Path,
                                                                     small_cohort: Cohort
                                                                     ) -> None:
    from ..helpers import encoded_workspace

    ws = encoded_workspace(tmp_path, small_cohort)
    agreement = ws / "protocols" / "agreement.yaml"
    result = match_encodings(agreement=agreement,
                             encodings=[ws / "enc" / f"{p}.npz" for p in PROVIDERS],
                             output=ws / "links")
    edit_yaml(agreement, lambda d: d.update(version="1.5"))
    with pytest.raises(ProtocolError, match=r"version 1\.4 of agreement"):
        release_attributes(agreement=agreement, links=result.files["health"], partner="health",
                           input=ws / "cohort" / "health.csv", recipient="analysts",
                           output=ws / "out.csv")
    # and a content change under an unchanged version is named as such
    edit_yaml(agreement, lambda d: d.update(version="1.4", title="Widened quietly"))
    with pytest.raises(ProtocolError, match="changed without a new version"):
        match_encodings(agreement=agreement,
                        encodings=[ws / "enc" / f"{p}.npz" for p in PROVIDERS],
                        output=ws / "links2")
    assert np.all([not (ws / "links2" / f"{p}.csv").exists() for p in PROVIDERS])
