"""JSON Schemas of the protocol files, generated from the pydantic models.

Editors (e.g. VS Code with the YAML extension) can check agreement and partner files
against them. ``tests/protocols/test_json_schema.py`` checks that the committed copies in
``protocols/schema/`` are fresh.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from linkage.files import atomic_output
from linkage.protocols.models import Agreement, PartnerProtocol

SCHEMAS: dict[str, type[Agreement] | type[PartnerProtocol]] = {
    "agreement.schema.json": Agreement, "partner-protocol.schema.json": PartnerProtocol}


def schema_text(name: str) -> str:
    """The JSON Schema text of one of :data:`SCHEMAS`, stably formatted."""
    model = SCHEMAS[name]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every schema into ``out_dir``; return the paths. Refuses before writing any
    when a target is a folder, so the schemas are never half replaced."""
    texts = {Path(out_dir) / name: schema_text(name) for name in SCHEMAS}
    for path in texts:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    for path, text in texts.items():
        with atomic_output(path, file_mode=0o644) as handle:
            handle.write(text)
    return list(texts)
