"""
One log event per answered request, with the fields an operator filters on:
C{service}, C{client}, C{ssid} (masked unless configured otherwise),
C{method}, C{url}, C{status}, C{duration} (seconds) and C{size} (body
bytes), plus C{reason} for refusals.

Secrets stay out: tickets, keys and challenge answers travel in headers and
bodies, which are never logged, and query values whose names suggest a
secret are replaced by C{***}. URLs are cut at L{MAX_URL} characters.
"""

from __future__ import annotations

import re
import time
from urllib.parse import unquote_plus

from twisted.logger import Logger, LogLevel

log = Logger(namespace="wtvserv.access")
MAX_URL = 200
_SECRET_WORDS = ("pass", "pw", "ticket", "token", "key", "secret", "response")
_SECRET_NAMES = re.compile("(" + "|".join(_SECRET_WORDS) + ")", re.IGNORECASE)
_QUERY_PAIR = re.compile(r"([^&=?]*)=([^&]*)")
_TOKEN_IN_PATH = re.compile(r"(-wtv-token-)[0-9]+-[0-9A-Fa-f]+")
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def loggableURL(url: str) -> str:
    """C{url} with secret-looking query values and login tokens hidden."""
    path, question, query = url.partition("?")
    # Each substitution is skipped where it could not change a thing, as
    # for most URLs: this runs for every request. A name may be spelt with
    # %-escapes or +, so those are always looked at.
    if "-wtv-token-" in path:
        path = _TOKEN_IN_PATH.sub(r"\1***", path)
    if query and ("%" in query or "+" in query or _looksSecret(query)):
        query = _QUERY_PAIR.sub(_maskSecret, query)
    text = path + question + query
    if not (text.isascii() and text.isprintable()) or " " in text:
        text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= MAX_URL else text[:MAX_URL] + "..."


def _looksSecret(text: str) -> bool:
    """
    Whether C{text} holds a secret-sounding word, in any case: what
    L{_SECRET_NAMES} finds. For ASCII text (as good as every URL) the words
    are looked for in its lower case, in C: the regular expression, made
    case-blind, cost a third of what logging a line costs. Other text keeps the
    expression, whose idea of case goes beyond ASCII.
    """
    if not text.isascii():
        return _SECRET_NAMES.search(text) is not None
    lowered = text.lower()
    for word in _SECRET_WORDS:
        if word in lowered:
            return True
    return False


def _maskSecret(pair: re.Match) -> str:
    """A C{name=value} pair, its value hidden when the name (as forms decode it) looks secret."""
    name = pair.group(1)
    if _looksSecret(unquote_plus(name, encoding="latin-1")):
        return f"{name}=***"
    return pair.group(0)


def logResponse(service: str, client: str, ssid: str, method: str, url: str,
                status: int, duration: float, size: int, reason: str = "") -> None:
    url = loggableURL(url)
    because = f" ({reason})" if reason else ""
    # The line is made here, once: a one-field format is far cheaper for
    # twisted.logger to render than nine (a quarter of a login's CPU).
    line = (f"{service} {client} {ssid} {method} {url} {status} {size}B "
            f"{duration * 1000:.1f}ms{because}")
    # The event Logger.info would make, made directly: emit() checks the
    # level against every level, sorted afresh, and copies the keywords
    # in, which cost more than half as much as writing the line.
    log.observer({
        "line": line, "service": service, "client": client, "ssid": ssid,
        "method": method, "url": url, "status": status, "duration": duration,
        "size": size, "reason": reason,
        "log_logger": log, "log_level": LogLevel.info, "log_namespace": log.namespace,
        "log_source": None, "log_format": "{line}", "log_time": time.time(),
    })
