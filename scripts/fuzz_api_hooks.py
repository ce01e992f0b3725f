"""schemathesis hooks for scripts/fuzz-api: a check that no response body leaks
a stack trace, a source location or an internal network address."""

import re

import schemathesis

LEAK = re.compile(
    r"panicked at|stack backtrace|Traceback \(most recent call last\)"
    r"|\b[\w/]+\.rs:\d+"
    r"|\b(?:127\.\d+|10\.\d+|192\.168|169\.254|172\.(?:1[6-9]|2\d|3[01]))\.\d+\.\d+\b"
    r"|\[?::1\]?:\d+|\bfe80::"
)


def _sent(case) -> str:
    """Everything the request carried, so echoed input is not a leak."""
    parts = [case.path_parameters, case.query, case.headers, case.cookies, case.body]
    return " ".join(repr(p) for p in parts if p)


@schemathesis.check
def no_internal_leak(ctx, response, case):
    text = response.text or ""
    for match in LEAK.finditer(text):
        if match.group(0) not in _sent(case):
            raise AssertionError(f"the response leaks {match.group(0)!r}: {text[:300]}")
    return None
