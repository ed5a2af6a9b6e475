"""Loading agreement and protocol files: every problem at once, with file, line and clause.

Messages never include a raw validator dump nor a value from a data record; they name the
file, the line and the clause (``encoding.fields[2].filter_bits``) and say what is wrong.

Every file is read by :func:`read_yaml_document`, which treats the file as hostile: it
bounds the size, refuses anchors and aliases (so nothing can expand), deep nesting,
repeated clauses, impossible dates and non-plain YAML tags, all before any Python object
is built, and turns every failure into :class:`ProtocolProblems`.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from linkage.errors import ProtocolError
from linkage.protocols.models import (
    Agreement,
    ColumnClass,
    OrganisationType,
    PartnerProtocol,
    Release,
    Role,
    is_placeholder,
)

M = TypeVar("M", bound=BaseModel)

MAX_PROTOCOL_BYTES = 256 * 1024
"""Largest protocol or agreement file read, checked before parsing. A reviewed document is a
few kilobytes (the example agreement is 4 KiB); the pure-Python YAML parser, needed to
refuse aliases while composing, takes seconds per hundred kilobytes on a slow machine."""

MAX_NESTING = 32
"""Deepest nesting of clauses accepted; the agreement itself needs five levels."""

LineMarks = dict[tuple[Any, ...], int]
"""Line number (1-based) of every clause path, e.g. ``("parties", 2, "protocol")``."""

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_YAML + kind for kind in
                         ("null", "bool", "int", "float", "str", "timestamp"))
_ALIAS_MESSAGE = ("YAML anchors and aliases are not allowed in protocol files; write the "
                  "clause out in full")
_REPEAT_MESSAGE = "is given twice (first on line {first}); a reviewed file may not repeat a clause"
_HIDDEN_CLAUSE = "<unreadable clause name>"
_KINDS = {_YAML + "int": "a whole number", _YAML + "float": "a number",
          _YAML + "bool": "true or false", _YAML + "null": "an empty value",
          _YAML + "str": "text"}


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


class _Refusal(Exception):
    """Raised inside the composer: a node that a protocol file may not contain."""

    def __init__(self, line: int, loc: Sequence[Any], message: str) -> None:
        super().__init__(message)
        self.line, self.loc, self.message = line, tuple(loc), message


class _ProtocolLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses anchors, aliases and deep nesting.

    The refusal happens while composing, so an alias is never followed and nothing is
    built from a hostile document.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._loc: list[Any] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, keeping the clause path; refuse aliases, anchors, deep nesting."""
        event = self.peek_event()
        part = index.value if isinstance(index, yaml.ScalarNode) else index
        part = _HIDDEN_CLAUSE if isinstance(part, yaml.Node) else part
        loc = [p for p in (*self._loc, part) if p is not None]
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refusal(line, loc, _ALIAS_MESSAGE)
        if len(self._loc) >= MAX_NESTING:
            raise _Refusal(line, loc, f"is nested more than {MAX_NESTING} levels deep")
        self._loc.append(part)
        try:
            return super().compose_node(parent, index)
        finally:
            self._loc.pop()


def read_yaml_document(path: str | os.PathLike[str]) -> tuple[dict[Any, Any], LineMarks]:
    """Read one protocol or agreement file safely: its clauses and the line of each.

    This is the only way linkage reads a protocol YAML file; use it wherever such a file
    is opened. The file is treated as hostile: it must be a regular file of at most
    ``MAX_PROTOCOL_BYTES``, UTF-8, one YAML document whose top level is a mapping, with no
    anchor or alias, no repeated clause (at any depth), no nesting deeper than
    ``MAX_NESTING``, no YAML tag beyond plain scalars, lists and mappings, and no
    impossible date. These are checked on the composed node tree, before any Python object
    is built. Returns ``(data, line_marks)``; ``line_marks`` maps a clause path such as
    ``("parties", 2, "protocol")`` to its 1-based line.

    Raises :class:`ProtocolProblems` (a :class:`~linkage.errors.ProtocolError`) naming the
    file, the line and the clause; messages never echo a value from the file.
    """
    source = Path(path)
    loader = _loader(source, _read_text(source))
    try:
        node = _compose(source, loader)
        problems = list(_node_problems(source, loader, node, ()))
        if problems:
            raise ProtocolProblems(problems)
        data = _construct(source, loader, node)
    finally:
        loader.dispose()
    return data, _marks(node)


def _refuse(source: Path, line: int | None, clause: str, message: str) -> ProtocolProblems:
    """A single problem, ready to raise."""
    return ProtocolProblems([Problem(source, line, clause, message)])


def _read_text(source: Path) -> str:
    """The file's text: refused if missing, not a regular file, too large or not UTF-8."""
    raw = _read_bytes(source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(source, None, "", "is not UTF-8 text (save it as UTF-8)") from None


def _read_bytes(source: Path) -> bytes:
    """At most ``MAX_PROTOCOL_BYTES`` of a regular file; the size is checked before reading."""
    try:
        info = source.stat()
        regular = stat.S_ISREG(info.st_mode)
        raw = b""
        if regular and info.st_size <= MAX_PROTOCOL_BYTES:
            with source.open("rb") as handle:
                raw = handle.read(MAX_PROTOCOL_BYTES + 1)
    except FileNotFoundError:
        raise _refuse(source, None, "", "file not found") from None
    except (OSError, ValueError):
        raise _refuse(source, None, "", "could not be read (check the path and its "
                      "permissions)") from None
    if not regular:
        raise _refuse(source, None, "", "is not a regular file (a folder or a device?)")
    if info.st_size > MAX_PROTOCOL_BYTES or len(raw) > MAX_PROTOCOL_BYTES:
        raise _refuse(source, None, "", f"is larger than {MAX_PROTOCOL_BYTES // 1024} KiB; a "
                      f"protocol file is a short reviewed document, not data")
    return raw


def _loader(source: Path, text: str) -> _ProtocolLoader:
    """A loader over ``text``; it refuses control characters as it starts."""
    try:
        return _ProtocolLoader(text)
    except yaml.YAMLError as error:
        raise _not_yaml(source, error) from None


def _not_yaml(source: Path, error: yaml.YAMLError) -> ProtocolProblems:
    """PyYAML's own error as a problem: the line where it stopped, never its text."""
    mark = getattr(error, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    return _refuse(source, line, "", "not valid YAML")


def _compose(source: Path, loader: _ProtocolLoader) -> yaml.MappingNode:
    """The document's node tree, refused unless it is a single top-level mapping."""
    try:
        node = loader.get_single_node()
    except _Refusal as refusal:
        raise _refuse(source, refusal.line, _clause(refusal.loc), refusal.message) from None
    except yaml.YAMLError as error:
        raise _not_yaml(source, error) from None
    if not isinstance(node, yaml.MappingNode):
        raise _refuse(source, 1, "", "expected a mapping of clauses")
    return node


def _node_problems(source: Path, loader: yaml.SafeLoader, node: yaml.Node,
                   loc: tuple[Any, ...]) -> Iterator[Problem]:
    """Non-plain tags, unreadable scalars and repeated clauses under ``node``."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode) and node.tag == _YAML + "map":
        yield from _mapping_problems(source, loader, node, loc)
    elif isinstance(node, yaml.SequenceNode) and node.tag == _YAML + "seq":
        for index, item in enumerate(node.value):
            yield from _node_problems(source, loader, item, (*loc, index))
    elif isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
        message = _scalar_problem(loader, node)
        if message:
            yield Problem(source, line, _clause(loc), message)
    elif node.tag == _YAML + "merge":
        yield Problem(source, line, _clause(loc), "YAML merge keys (<<) are not allowed in "
                      "protocol files; write the clauses out in full")
    else:
        yield Problem(source, line, _clause(loc), "uses a YAML tag that protocol files may "
                      "not use; write a plain value, list or mapping")


def _mapping_problems(source: Path, loader: yaml.SafeLoader, node: yaml.MappingNode,
                      loc: tuple[Any, ...]) -> Iterator[Problem]:
    """Problems of a mapping: its clause names, repeats among them, and their values."""
    first: dict[Any, int] = {}
    for key, value in node.value:
        line = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode) or key.tag not in _SCALAR_TAGS:
            if key.tag == _YAML + "merge":
                yield from _node_problems(source, loader, key, loc)
            else:
                yield Problem(source, line, _clause(loc), "a clause name must be plain text")
            continue
        message = _scalar_problem(loader, key)
        if message:
            yield Problem(source, line, _clause((*loc, key.value)), message)
            continue
        name = loader.construct_object(key)
        if name in first:
            yield Problem(source, line, _clause((*loc, key.value)),
                          _REPEAT_MESSAGE.format(first=first[name]))
        first.setdefault(name, line)
        yield from _node_problems(source, loader, value, (*loc, key.value))


def _scalar_problem(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str | None:
    """Why a plain scalar cannot be read (e.g. ``2029-02-30``), or None if it can."""
    try:
        loader.construct_object(node)
    except (ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError):
        if node.tag == _YAML + "timestamp":
            return "is not a real date (check the year, month and day)"
        return f"cannot be read as {_KINDS.get(node.tag, 'a value')}"
    return None


def _construct(source: Path, loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Python objects from a node tree already checked by :func:`_node_problems`."""
    try:
        data = loader.construct_document(node)
    except (ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError):
        raise _refuse(source, None, "", "could not be read as a protocol file") from None
    if not isinstance(data, dict):
        raise _refuse(source, 1, "", "expected a mapping of clauses")
    return data


def _marks(root: yaml.Node) -> LineMarks:
    """Line number (1-based) of every key path in a composed YAML document.

    Each node is visited once, so a node reached twice (an alias) is never expanded again.
    """
    marks: LineMarks = {}
    _mark(root, (), marks, set())
    return marks


def _mark(node: yaml.Node, path: tuple[Any, ...], marks: LineMarks, seen: set[int]) -> None:
    """Record ``node``'s line under ``path``, then its clauses', each node at most once."""
    marks.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                marks.setdefault((*path, key.value), key.start_mark.line + 1)
                _mark(value, (*path, key.value), marks, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _mark(item, (*path, index), marks, seen)


def _clause(loc: Sequence[Any]) -> str:
    """A clause path as a reviewer writes it: ``encoding.fields[2].filter_bits``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{_shown(part)}" if text
                                                           else _shown(part))
    return text


def _shown(part: Any) -> str:
    """A clause name as shown in a message: on one line and of a readable length."""
    name = str(part)
    return name if name.isprintable() and len(name) <= 80 else _HIDDEN_CLAUSE


def _line(marks: dict[tuple[Any, ...], int], loc: Sequence[Any]) -> int | None:
    """The line of ``loc``, or of the nearest enclosing clause that has one."""
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
    data, marks = read_yaml_document(source)
    return _validate(source, data, marks, model)


def _validate(source: Path, data: dict[Any, Any], marks: LineMarks, model: type[M]) -> M:
    """``data`` as ``model``, or every validation problem with its line and clause."""
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

    Problems in the agreement and in every protocol file are reported together. Each
    party's protocol file must lie in the agreement's folder or below it.
    """
    source = Path(path)
    problems: list[Problem] = []
    agreement: Agreement | None = None
    data: dict[Any, Any] | None = None
    marks: LineMarks = {}
    try:
        data, marks = read_yaml_document(source)
        agreement = _validate(source, data, marks, Agreement)
        parties = [(i, p.name, p.protocol) for i, p in enumerate(agreement.parties)]
    except ProtocolProblems as error:
        problems.extend(error.problems)
        parties = _raw_parties(data)
    protocols: dict[str, PartnerProtocol] = {}
    paths: dict[str, Path] = {}
    for index, name, relative in parties:
        try:
            paths[name] = _party_file(source, marks, index, relative)
            protocols[name] = load_model(paths[name], PartnerProtocol)
        except ProtocolProblems as error:
            problems.extend(error.problems)
    if agreement is None or problems:
        raise ProtocolProblems(problems)
    loaded = LoadedAgreement(agreement, source, protocols, paths)
    problems.extend(cross_check(loaded))
    if problems:
        raise ProtocolProblems(problems)
    return loaded


def _party_file(source: Path, marks: LineMarks, index: int, relative: str) -> Path:
    """The resolved path of party ``index``'s protocol; refused outside the agreement's folder.

    Symbolic links and ``..`` are resolved on both sides first, so a folder that is itself
    a link (as ``protocols/first-1000-days`` is) still holds its own party files.
    """
    clause = f"parties[{index}].protocol"
    line = _line(marks, ("parties", index, "protocol"))
    try:
        if not relative.isprintable():
            raise ValueError(clause)
        resolved = (source.parent / relative).resolve()
        inside = resolved.is_relative_to(source.parent.resolve())
    except (OSError, ValueError, RuntimeError):
        raise _refuse(source, line, clause, "is not a usable file path") from None
    if not inside:
        raise _refuse(source, line, clause, "points outside the agreement's folder; keep "
                      "every party's protocol file in that folder (or below it)")
    return resolved


def _raw_parties(data: Any) -> list[tuple[int, str, str]]:
    """Party index, name and protocol path, read leniently from an agreement that failed."""
    parties = data.get("parties") if isinstance(data, dict) else None
    if not isinstance(parties, list):
        return []
    return [(i, str(p["name"]), str(p["protocol"])) for i, p in enumerate(parties)
            if isinstance(p, dict) and "name" in p and "protocol" in p]


def cross_check(loaded: LoadedAgreement) -> list[Problem]:
    """Problems that span files: names, roles, identifiers, releases, encoding strength.

    A release goes only to an ``analyst_recipient``, never to the linkage unit; one to a
    data provider (which can join the link keys back to its own named records) needs
    ``to_data_provider: true``, and that flag is refused on a release to any other party.
    """
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
            refused = _recipient_problem(loaded, name, i, release)
            if refused:
                problems.append(refused)
            if release.purpose not in purposes:
                problems.append(Problem(where, None, f"releases[{i}].purpose",
                                        f"'{release.purpose}' is not a purpose of the agreement"))
        problems.extend(coherence_problems(protocol, where))
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


def coherence_problems(protocol: PartnerProtocol, where: Path) -> list[Problem]:
    """What a partner's own file says that its lawful basis or contacts do not bear out.

    A data provider of health or social-care data (an NHS trust, or a provider whose
    ``data_dictionary`` classifies a column ``special_category``) must give an Article 9
    condition; an NHS trust must name its Caldicott Guardian. (That the Article 9 condition
    matches its Schedule 1 paragraph, and the appropriate policy document, are checked by
    the protocol model itself: see ``LawfulBasis``.)
    """
    problems = []
    nhs = protocol.organisation_type == OrganisationType.NHS_TRUST
    special = sorted(c for c, kind in protocol.data_dictionary.items()
                     if kind == ColumnClass.SPECIAL_CATEGORY)
    if Role.DATA_PROVIDER in protocol.roles and protocol.lawful_basis.article_9 is None and \
            (nhs or special):
        why = (f"its data_dictionary classifies {', '.join(special)} as special_category"
               if special else "as an NHS trust it provides health data")
        problems.append(_at(where, ("lawful_basis", "article_9"), (
            f"is missing: this data provider shares health or social-care data ({why}), "
            f"which needs an Article 9 condition (e.g. h_health_or_social_care with Schedule 1 "
            f"paragraph 2, or g_substantial_public_interest with paragraph 18)")))
    guardian = protocol.contacts.caldicott_guardian
    if nhs and (guardian is None or is_placeholder(guardian)):
        problems.append(_at(where, ("contacts", "caldicott_guardian"), (
            "is missing: an NHS organisation (organisation_type nhs_trust) must name its "
            "Caldicott Guardian, who safeguards confidential patient information")))
    return problems


def _at(where: Path, loc: tuple[Any, ...], message: str) -> Problem:
    """A problem at clause ``loc`` of ``where``, on its line (or its enclosing clause's)."""
    try:
        marks = read_yaml_document(where)[1]
    except ProtocolProblems:
        marks = {}
    return Problem(where, _line(marks, loc), _clause(loc), message)


def _recipient_problem(loaded: LoadedAgreement, name: str, index: int,
                       release: Release) -> Problem | None:
    """Why party ``name``'s release clause ``index`` may not go to its recipient (None: it
    may): not a party, the linkage unit, a data provider without ``to_data_provider: true``,
    ``to_data_provider`` on a party that is not one, or no ``analyst_recipient`` role."""
    recipient = loaded.protocols.get(release.recipient)
    where, clause = loaded.protocol_paths[name], "recipient"
    if recipient is None:
        return Problem(where, None, f"releases[{index}].recipient",
                       f"'{release.recipient}' is not a party")
    roles = f"{loaded.protocol_paths[release.recipient]}: roles"
    provider = Role.DATA_PROVIDER in recipient.roles
    if release.recipient == loaded.agreement.linkage_unit or \
            Role.LINKAGE_UNIT in recipient.roles:
        message = (f"'{release.recipient}' is the linkage unit, which may never receive a "
                   f"release (it holds every provider's encodings and the links)")
    elif provider and not release.to_data_provider:
        message = (f"'{release.recipient}' is a data provider ({roles}): it can join the link "
                   f"keys back to its own named records, so the release must say "
                   f"to_data_provider: true if the agreement means it")
    elif not provider and release.to_data_provider:
        clause = "to_data_provider"
        message = f"is true but '{release.recipient}' is not a data provider (remove it)"
    elif not provider and Role.ANALYST_RECIPIENT not in recipient.roles:
        message = f"'{release.recipient}' does not hold the analyst_recipient role ({roles})"
    else:
        return None
    try:
        marks = read_yaml_document(where)[1]
    except ProtocolProblems:
        marks = {}
    return Problem(where, _line(marks, ("releases", index, clause)),
                   f"releases[{index}].{clause}", message)


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
