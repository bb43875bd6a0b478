"""schemathesis hooks for .ci/schemathesis.sh.

An `Idempotency-Key` is the caller's promise that a retry carries the same request; a
generator that draws the same key for two different bodies breaks it and rightly gets a 422.
Valid keys are made unique per request, as a client does; invalid ones are left as drawn, so
the server's refusal of a malformed key is still tested.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and VALID_KEY.match(headers[name]):
            headers[name] = f"st-{uuid.uuid4()}"
