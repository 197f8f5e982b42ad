from __future__ import annotations

import hmac

import pytest

from webhook.signatures import match, sign, verify

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


ROTATION = (("current", b"the new secret"), ("previous", DOC_SECRET))


@pytest.mark.parametrize(
    ("secret", "expected"),
    [(b"the new secret", "current"), (DOC_SECRET, "previous"), (b"neither", None)],
    ids=["current", "previous", "neither"],
)
def test_a_rotation_accepts_either_secret_and_names_the_one_that_matched(
    secret: bytes, expected: str | None
) -> None:
    assert match(ROTATION, DOC_BODY, sign(secret, DOC_BODY)) == expected


def test_an_empty_secret_in_a_rotation_never_matches() -> None:
    assert (
        match((("current", DOC_SECRET), ("previous", b"")), DOC_BODY, sign(b"", DOC_BODY)) is None
    )


def test_every_secret_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[str] = []
    real = hmac.compare_digest

    def counting(a: str, b: str) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    assert match(ROTATION, DOC_BODY, sign(b"the new secret", DOC_BODY)) == "current"
    assert len(compared) == 2  # the previous secret too: the timing does not tell which
