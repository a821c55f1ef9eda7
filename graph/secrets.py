"""Secrets are never printed: one process-wide ``Redactor`` that every output goes through.

What counts as a secret: any value registered with ``add`` (node config fields typed
``SecretStr``, parameters declared ``secret: true``, tokens read from the environment) and the
credentials of any URL registered with ``add_url`` (its userinfo and its query, which often
carries a token). On top of the registered values, any URL in a text loses its userinfo and its
query (``scheme://***@host/path?***``), so a URL that was never registered (an error echoing
what a server sent) is scrubbed too.

Where it applies: every event line (``EventStream``), every drop detail *before* it is cut to
its length limit (a token cut in half no longer matches), and the CLI's ``Error:`` lines. A
traceback of a bug is not redacted (it is a bug report, printed on stderr only).
"""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["REDACT", "Redactor"]

#: What a secret becomes.
MASK = "***"
#: Shorter values are not registered: masking "ab" everywhere would garble output, and a
#: secret that short protects nothing anyway.
MIN_SECRET_LEN = 4

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@\"'<>]+@")
_QUERY = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*")


class Redactor:
    """``redactor(text)`` -> ``text`` without any registered secret or URL credential.
    Thread-safe; cheap on text with neither (one scan per secret, one for ``://``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, *values: object) -> None:
        """Register secret values (non-strings and short strings are ignored). Their JSON-escaped
        and URL-decoded forms are registered too, as they appear in events and URLs."""
        new = set(self._secrets)
        for value in values:
            if not isinstance(value, str) or len(value) < MIN_SECRET_LEN:
                continue
            for form in (value, json.dumps(value)[1:-1], unquote(value)):
                if len(form) >= MIN_SECRET_LEN:
                    new.add(form)
        with self._lock:  # longest first: a secret containing another is masked whole
            self._secrets = tuple(sorted(new, key=len, reverse=True))

    def add_url(self, url: object) -> None:
        """Register the credentials of ``url``: its password, username, query and each query
        value. Anything that is not a URL with them is ignored."""
        if not isinstance(url, str) or "://" not in url:
            return
        try:
            parts = urlsplit(url)
            username, password = parts.username, parts.password
        except ValueError:  # a malformed port, an unbalanced bracket: scrub the whole value
            self.add(url)
            return
        self.add(password, username, parts.query, *(v for _k, v in parse_qsl(parts.query)))

    def clear(self) -> None:
        with self._lock:
            self._secrets = ()

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "://" in text:
            text = _USERINFO.sub(rf"\g<scheme>{MASK}@", text)
            text = _QUERY.sub(rf"\g<head>?{MASK}", text)
        return text


#: The process's redactor: what the run registers, every output applies.
REDACT = Redactor()
