"""
Which headers the box puts on which request (PROTOCOL.md 11.1 and
box_requests.json): per-request headers on every request, identity headers
once per connection (its first plain request, or its SECURE ON block).
"""

from __future__ import annotations

from wtvserv.box.profile import BoxProfile

Header = tuple[str, str]

FORM_URLENCODED = "application/x-www-form-urlencoded"


def per_request_headers(profile: BoxProfile, incarnation: int,
                        referer: str | None = None) -> list[Header]:
    """
    @param incarnation: the connection's C{wtv-incarnation}.
    @param referer: the URL the box navigates from, if any.
    @return: the headers every request starts with.
    """
    headers = [("Referer", referer)] if referer else []
    headers += [
        ("wtv-request-type", "primary"),
        ("wtv-system-cpuspeed", profile.cpu_speed),
        ("wtv-system-sysconfig", profile.sysconfig),
        ("wtv-disk-size", profile.disk_size),
        ("wtv-incarnation", str(incarnation)),
        ("wtv-client-address", profile.client_address),
    ]
    return headers


def identity_headers(profile: BoxProfile,
                     ticket: str | None = None) -> list[Header]:
    """
    @param ticket: the C{wtv-ticket} the box holds, if any.
    @return: the headers that say who the box is, sent once per connection.
    """
    headers = [("Accept-Language", profile.accept_language)]
    if ticket is not None:
        headers.append(("wtv-ticket", ticket))
    headers += [
        ("wtv-connect-session-id", profile.connect_session_id),
        ("wtv-client-serial-number", profile.ssid),
        ("wtv-system-version", profile.system_version),
        ("wtv-capability-flags", profile.capability_flags),
        ("wtv-client-bootrom-version", profile.bootrom_version),
        *([("wtv-client-rom-type", profile.rom_type)] if profile.rom_type else []),
        ("wtv-system-chipversion", profile.chip_version),
        ("User-Agent", profile.user_agent),
        ("wtv-encryption", "true"),
        ("wtv-script-id", profile.script_id),
        ("wtv-script-mod", profile.script_mod),
    ]
    return headers


def secure_on_headers(profile: BoxProfile, ticket: str,
                      incarnation: int) -> list[Header]:
    """@return: the headers of a SECURE ON block: the identity, then the
    connection's incarnation."""
    return identity_headers(profile, ticket) + [
        ("wtv-incarnation", str(incarnation))]


def body_headers(body: bytes | None,
                 content_type: str = FORM_URLENCODED) -> list[Header]:
    """@return: C{Content-type} and C{Content-length} for a body, if any."""
    if body is None:
        return []
    return [("Content-type", content_type), ("Content-length", str(len(body)))]


def request_headers(profile: BoxProfile, incarnation: int, *,
                    referer: str | None = None, ticket: str | None = None,
                    with_identity: bool = False,
                    challenge_response: str | None = None,
                    body: bytes | None = None,
                    content_type: str = FORM_URLENCODED) -> list[Header]:
    """
    @param with_identity: add the identity headers (the first request of a
        plain connection).
    @return: a request's headers, in order: the per-request ones, the
        challenge response, the identity, then C{Content-type} and
        C{Content-length}.
    """
    headers = per_request_headers(profile, incarnation, referer)
    if challenge_response is not None:
        headers.append(("wtv-challenge-response", challenge_response))
    if with_identity:
        headers += identity_headers(profile, ticket)
    return headers + body_headers(body, content_type)
