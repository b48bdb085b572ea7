"""Every JSON the API sends: strings made showable first (``pathnames.display_text``).

A file name that is not valid UTF-8 lives in memory with surrogate escapes, which no
JSON encoder can write; here it becomes ``caf\\xe9.txt`` instead of a 500.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from allma_desktop.pathnames import displayable


def json_text(data: object) -> str:
    """``data`` as JSON text, every string showable."""
    return json.dumps(displayable(data), ensure_ascii=False)


class ShowableJSONResponse(JSONResponse):
    """The API's response class (also for errors): ``JSONResponse`` through ``json_text``."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            displayable(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
