"""Loading agreement and protocol files: every problem at once, with file, line and clause.

Messages never include a raw validator dump nor a value from a data record; they name the
file, the line and the clause (``encoding.fields[2].filter_bits``) and say what is wrong.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from linkage.errors import ProtocolError
from linkage.protocols.models import Agreement, PartnerProtocol, Role

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a protocol file."""

    file: Path
    line: int | None
    clause: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        clause = f" {self.clause}:" if self.clause else ""
        return f"{where}:{clause} {self.message}"


class ProtocolProblems(ProtocolError):
    """Raised with every problem found; ``problems`` holds them one by one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem(s) in the protocol files:\n{lines}")


@dataclass(frozen=True)
class LoadedAgreement:
    """An agreement and the protocols of its parties, checked together."""

    agreement: Agreement
    path: Path
    protocols: dict[str, PartnerProtocol]
    protocol_paths: dict[str, Path]

    def protocol(self, partner: str) -> PartnerProtocol:
        """The protocol of ``partner``; refuses a partner not in the agreement."""
        if partner not in self.protocols:
            names = ", ".join(sorted(self.protocols))
            raise ProtocolError(f"{self.path}: parties: '{partner}' is not a party to agreement "
                                f"'{self.agreement.id}' (parties: {names}).")
        return self.protocols[partner]

    def check_in_force(self, today: dt.date | None = None) -> None:
        """Refuse use before ``start_date`` or after ``expiry_date``."""
        today = today or dt.date.today()
        a = self.agreement
        if today < a.start_date:
            raise ProtocolError(f"{self.path}: start_date: agreement '{a.id}' is not in force "
                                f"until {a.start_date.isoformat()}.")
        if today > a.expiry_date:
            raise ProtocolError(f"{self.path}: expiry_date: agreement '{a.id}' expired on "
                                f"{a.expiry_date.isoformat()}; renew it before use.")


def _marks(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Line number (1-based) of every key path in a composed YAML document."""
    out = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            for sub, line in _marks(value, (*path, key.value)).items():
                out.setdefault(sub, line)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            for sub, line in _marks(item, (*path, i)).items():
                out.setdefault(sub, line)
    return out


def _clause(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line(marks: dict[tuple[Any, ...], int], loc: Sequence[Any]) -> int | None:
    loc = tuple(loc)
    while loc not in marks and loc:
        loc = loc[:-1]
    return marks.get(loc)


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a known clause (check the spelling; unknown clauses are refused)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def load_model(path: str | os.PathLike[str], model: type[M]) -> M:
    """Parse a YAML file into ``model``, reporting every problem with its line and clause."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolProblems([Problem(source, None, "", "file not found")]) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ProtocolProblems([Problem(source, line, "", "not valid YAML")]) from None
    if not isinstance(data, dict) or node is None:
        raise ProtocolProblems([Problem(source, 1, "", "expected a mapping of clauses")])
    marks = _marks(node)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = []
        items = error.errors()
        failed = [tuple(item["loc"]) for item in items]
        for item in items:
            loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith(
                ("function-", "tagged-union")))]
            inner = any(len(o) > len(item["loc"]) and o[:len(item["loc"])] == tuple(item["loc"])
                        for o in failed)
            if item["type"] == "too_short" and inner:
                continue  # a list emptied by its own failing items: those are reported
            for message in _message(dict(item)).split("; "):
                problems.append(Problem(source, _line(marks, loc), _clause(loc), message))
        raise ProtocolProblems(problems) from None


def load_agreement(path: str | os.PathLike[str]) -> LoadedAgreement:
    """Load an agreement and every party's protocol, and check them against each other.

    Problems in the agreement and in every protocol file are reported together.
    """
    source = Path(path)
    problems: list[Problem] = []
    agreement: Agreement | None = None
    try:
        agreement = load_model(source, Agreement)
        parties = [(p.name, p.protocol) for p in agreement.parties]
    except ProtocolProblems as error:
        problems.extend(error.problems)
        parties = _raw_parties(source)
    protocols: dict[str, PartnerProtocol] = {}
    paths: dict[str, Path] = {}
    for name, relative in parties:
        protocol_path = (source.parent / relative).resolve()
        paths[name] = protocol_path
        try:
            protocols[name] = load_model(protocol_path, PartnerProtocol)
        except ProtocolProblems as error:
            problems.extend(error.problems)
    if agreement is None or problems:
        raise ProtocolProblems(problems)
    loaded = LoadedAgreement(agreement, source, protocols, paths)
    problems.extend(cross_check(loaded))
    if problems:
        raise ProtocolProblems(problems)
    return loaded


def _raw_parties(source: Path) -> list[tuple[str, str]]:
    """Party names and protocol paths read leniently from an agreement that failed."""
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        return [(str(p["name"]), str(p["protocol"])) for p in data.get("parties", [])
                if isinstance(p, dict) and "name" in p and "protocol" in p]
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        return []


def cross_check(loaded: LoadedAgreement) -> list[Problem]:
    """Problems that span files: names, roles, identifiers, releases, encoding strength."""
    a, problems = loaded.agreement, []
    fields = {f.name for f in a.encoding.fields}
    purposes = {p.id for p in a.purposes}
    for name, protocol in loaded.protocols.items():
        where = loaded.protocol_paths[name]
        if protocol.partner != name:
            problems.append(Problem(where, 1, "partner", f"says '{protocol.partner}' but the "
                                    f"agreement lists this file for party '{name}'"))
        for identifier in protocol.identifiers:
            if identifier not in fields:
                problems.append(Problem(where, None, f"identifiers.{identifier}",
                                        "is not a field of the agreement's encoding schema"))
        identifier_columns = set(protocol.identifiers.values())
        if protocol.record_id_column:
            identifier_columns.add(protocol.record_id_column)
        for i, release in enumerate(protocol.releases):
            for attribute in release.attributes:
                if attribute in identifier_columns:
                    problems.append(Problem(where, None, f"releases[{i}].attributes",
                                            f"'{attribute}' is an identifier or record id "
                                            f"and may never be released"))
            if release.recipient not in loaded.protocols:
                problems.append(Problem(where, None, f"releases[{i}].recipient",
                                        f"'{release.recipient}' is not a party"))
            if release.purpose not in purposes:
                problems.append(Problem(where, None, f"releases[{i}].purpose",
                                        f"'{release.purpose}' is not a purpose of the agreement"))
    unit = loaded.protocols.get(a.linkage_unit)
    if unit is not None and Role.LINKAGE_UNIT not in unit.roles:
        problems.append(Problem(loaded.protocol_paths[a.linkage_unit], None, "roles",
                                "the agreement's linkage_unit must have the linkage_unit role"))
    if unit is not None and Role.DATA_PROVIDER in unit.roles:
        problems.append(Problem(loaded.protocol_paths[a.linkage_unit], None, "roles",
                                "the linkage unit may not also be a data provider (it would "
                                "hold the key)"))
    problems.extend(Problem(loaded.path, None, clause, message)
                    for clause, message in encoding_shortfalls(a))
    return problems


def encoding_shortfalls(agreement: Agreement, schema: Any = None) -> list[tuple[str, str]]:
    """Where ``schema`` (default: the agreement's own) is weaker than the requirements."""
    schema = schema or agreement.encoding
    req = agreement.encoding_requirements
    out = []
    if schema.record_filter_bits < req.minimum_record_filter_bits:
        out.append(("encoding.record_filter_bits", f"{schema.record_filter_bits} is below "
                    f"encoding_requirements.minimum_record_filter_bits "
                    f"({req.minimum_record_filter_bits})"))
    for i, spec in enumerate(schema.fields):
        if spec.filter_bits < req.minimum_field_filter_bits:
            out.append((f"encoding.fields[{i}].filter_bits", f"{spec.filter_bits} is below "
                        f"encoding_requirements.minimum_field_filter_bits "
                        f"({req.minimum_field_filter_bits})"))
        for attr in ("bits_per_token", "record_bits_per_token"):
            if getattr(spec, attr) > req.maximum_bits_per_token:
                out.append((f"encoding.fields[{i}].{attr}", f"{getattr(spec, attr)} exceeds "
                            f"encoding_requirements.maximum_bits_per_token "
                            f"({req.maximum_bits_per_token})"))
    hard = schema.hardening
    enabled = {"balance": hard.balance, "xor_fold": hard.xor_fold,
               "blip": hard.blip_epsilon is not None, "diffusion": hard.diffusion_taps is not None}
    for step in req.required_hardening:
        if not enabled[step]:
            out.append(("encoding.hardening", f"'{step}' is required by "
                        f"encoding_requirements.required_hardening but not enabled"))
    return out
