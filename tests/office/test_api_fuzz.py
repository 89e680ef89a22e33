"""Generated requests against every JSON API operation: none may answer 500.

Schemathesis reads the OpenAPI document the app serves and builds requests from it: first
its coverage cases (each parameter at and beyond its documented bounds, of the wrong type,
missing, null), then random ones the document allows and ones it does not. They are sent
signed in as the test province's administrator, who may reach every operation, and again as
a member of staff, whose requests take the permission checks' other branches. The sign-in
endpoints are left out: their own tests cover them, and revoking the test's token would
turn every later case into a 401.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import GenerationConfig

from tests.conftest import bearer

COVERAGE_CASES = 60  # at most, per operation
RANDOM = settings(
    max_examples=16,  # per operation, valid and invalid
    deadline=None,
    derandomize=True,  # the same cases every run
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("username", ["admin", "zhangsan"])
def test_no_operation_answers_500(app, client, org, username):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).exclude(path_regex="/auth/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50  # the whole API, not an empty document
    headers = bearer(client, username)
    failures: list[str] = []
    sent = 0

    def send(case) -> None:
        nonlocal sent
        response = case.call(headers=headers)
        sent += 1
        if response.status_code >= 500:
            failures.append(f"{case.operation.label}: {response.status_code} {case.as_curl_command()}")

    modes = list(schemathesis.GenerationMode)
    for op in operations:
        covered = schema.iter_coverage_cases(op, generation_modes=modes, generation_config=GenerationConfig())
        for case in itertools.islice(covered, COVERAGE_CASES):
            send(case)
        cases = st.one_of(*(op.as_strategy(generation_mode=m) for m in modes))
        given(cases)(RANDOM(lambda case: send(case)))()
    assert sent > 50 * len(operations) // 2
    assert not failures, "\n".join(failures[:20])
