"""The published contract: docs/openapi.json is what the server serves, and it holds.

Schemathesis generates requests from the served OpenAPI document (bounded: a few
examples per operation) and checks every answer: no 500s, status codes, content
types and bodies as documented.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import RunningApi

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"
EXAMPLES_PER_OPERATION = 15


def test_the_served_openapi_document_is_the_committed_one(api: RunningApi) -> None:
    served = httpx.get(f"{api.url}/openapi.json", headers=api.auth).json()

    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    # Regenerate with: python -m allma_desktop.api.openapi_doc > docs/openapi.json
    assert served == committed


# 413: a schema-valid (or invalid) body can still be larger than the body limit.
# 422 for schema-valid data: some rules cannot be stated in the schema (the last chat
# message must be the user's; a path must be absolute); the answer names the field.
CHECKS = {
    "negative_data_rejection": {
        "expected-statuses": [
            "400",
            "401",
            "403",
            "404",
            "405",
            "406",
            "409",
            "413",
            "415",
            "422",
            "428",
            "429",
            "5XX",
        ]
    },
    "positive_data_acceptance": {
        "expected-statuses": ["2XX", "3XX", "401", "403", "404", "409", "413", "422", "429", "5XX"]
    },
}
# The committed document (equal to the served one, as the test above checks).
schema = schemathesis.openapi.from_path(
    COMMITTED, config=schemathesis.Config.from_dict({"checks": CHECKS})
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_its_contract(case: schemathesis.Case, api: RunningApi) -> None:
    # This module's server is its own: the generated requests delete things at random.
    case.call_and_validate(base_url=api.url, headers=api.auth)
