"""Secrets never reach an error text that is stored, logged or shown: the key a client holds, and anything
shaped like an API key or a bearer token (OpenAI's 401 quotes the key it was given).

A base module beside errors, paths and files (the store scrubs what it writes, clients what they raise): it
imports nothing of the studio."""

from __future__ import annotations

import re

REDACTED = "[redacted]"
TOKEN = re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}|\b(?:sk|pk|rk)-[A-Za-z0-9_*.-]{8,}|\bhf_[A-Za-z0-9]{16,}")


def scrub(text: str | None, *secrets: str | None) -> str | None:
    """`text` with each of `secrets` and every token-shaped word replaced by `[redacted]`."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return TOKEN.sub(REDACTED, text)
