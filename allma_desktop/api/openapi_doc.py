"""Print the API's OpenAPI document (the contract committed as docs/openapi.json).

python -m allma_desktop.api.openapi_doc > docs/openapi.json
"""

from __future__ import annotations

import json

from allma_desktop.api.app import ApiOptions, create_app
from allma_desktop.config import AppConfig


def openapi_document() -> str:
    # The document depends on no setting, token or library: any config gives the same one.
    app = create_app(lambda: None, AppConfig(), ApiOptions(token="unused"))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(openapi_document(), end="")
