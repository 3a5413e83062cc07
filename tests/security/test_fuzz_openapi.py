"""Property-based fuzzing of the OpenAPI schema with Schemathesis: for a few generated requests
per operation, as an operator on the small seeded world, no answer is a 5xx and every answer
matches the schema (its status is documented and its body has the documented shape)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from tests.security.conftest import World
from zhibo.app import create_app
from zhibo.config import Settings

#: Examples per operation (valid and invalid): about 110 operations x 10 keeps the run < 60 s.
MAX_EXAMPLES = int(os.environ.get("ZHIBO_FUZZ_EXAMPLES", "10"))


def _spec() -> dict[str, Any]:
    """The app's OpenAPI document (building the app touches no database)."""
    folder = Path(tempfile.mkdtemp(prefix="zhibo-openapi-"))
    app = create_app(Settings(database_url=f"sqlite:///{folder / 'unused.db'}", data_dir=folder))
    spec = app.openapi()
    shutil.rmtree(folder, ignore_errors=True)
    return spec


#: Positive and negative examples from the fuzzing phase (and the schema's own examples); the
#: coverage phase (thousands of boundary requests) is left to an occasional CLI run.
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
    }
)
schema = schemathesis.openapi.from_dict(_spec(), config=CONFIG).exclude(
    # Server-Sent Events never end; tests/events/test_sse.py follows them with a real server.
    path_regex=r"/stream$",
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_schema(case: Any, world: World) -> None:
    kwargs = case.as_transport_kwargs(
        base_url="http://testserver", headers=world.headers("operator")
    )
    for unused in ("timeout", "allow_redirects", "cookies"):
        kwargs.pop(unused, None)
    response = world.client.request(**kwargs)
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
