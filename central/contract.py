"""The contract file, central/openapi.json, generated from the app.

Regenerate after changing a route or a model:
    kiosk central openapi --out central/openapi.json
A test fails while the committed file and the served document differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT_PATH = Path(__file__).resolve().parent / "openapi.json"


def openapi_document() -> dict[str, Any]:
    from central.app import create_app

    return create_app(None).openapi()


def render(document: dict[str, Any] | None = None) -> str:
    """The document as committed: indented, UTF-8 as is, one newline at the end."""
    return json.dumps(document or openapi_document(), indent=2, ensure_ascii=False) + "\n"


def committed() -> str:
    return CONTRACT_PATH.read_text(encoding="utf-8")
