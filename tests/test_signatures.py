from __future__ import annotations

import pytest

from webhook.signatures import sign, verify

# GitHub's documented test vector ("Validating webhook deliveries").
DOC_SECRET = b"It's a Secret to Everybody"
DOC_BODY = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_vector_signs_and_verifies() -> None:
    assert sign(DOC_SECRET, DOC_BODY) == DOC_SIGNATURE
    assert verify(DOC_SECRET, DOC_BODY, DOC_SIGNATURE)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (DOC_SECRET, DOC_BODY + b" ", DOC_SIGNATURE),
        (b"another secret", DOC_BODY, DOC_SIGNATURE),
        (DOC_SECRET, DOC_BODY, None),
        (DOC_SECRET, DOC_BODY, ""),
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE.removeprefix("sha256=")),
        (DOC_SECRET, DOC_BODY, "sha1=" + DOC_SIGNATURE.removeprefix("sha256=")),
        (DOC_SECRET, DOC_BODY, DOC_SIGNATURE[:-2]),
        (DOC_SECRET, DOC_BODY, "sha256=" + "zz" * 32),
        (b"", DOC_BODY, sign(b"", DOC_BODY)),
    ],
    ids=[
        "body-changed",
        "wrong-secret",
        "missing",
        "empty",
        "no-prefix",
        "sha1-prefix",
        "truncated",
        "not-hex",
        "empty-secret",
    ],
)
def test_refuses_anything_but_the_exact_signature(
    secret: bytes, body: bytes, header: str | None
) -> None:
    assert not verify(secret, body, header)
