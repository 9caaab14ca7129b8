"""Who a simulated box is, and what its user types."""

from __future__ import annotations

from dataclasses import dataclass, replace

from wtvserv.capabilities import RECEIVE_COMPRESSED, parse_capability_flags
from wtvserv.ssid import ssid_crc


def make_ssid(unit: int, box_type: str = "81", manufacturer: str = "00",
              region: str = "B002") -> str:
    """
    @param unit: the 6-hex-digit unit id, e.g. a load generator's box number.
    @return: a 16-hex-digit SSID with a valid check byte.
    """
    head = f"{box_type}{unit & 0xFFFFFF:06X}{manufacturer}{region}"
    return head + ssid_crc(head)


@dataclass(frozen=True)
class BoxProfile:
    """
    Who the box is (the header values of PROTOCOL.md 11) and what its user
    types during registration and login. The defaults are a WebTV Plus
    without compression (scenario A of the vectors); see L{make_profile}.

    @ivar kind: C{plus}, C{classic}, C{flash} or C{new}; informational.
    @ivar rom_type: C{wtv-client-rom-type}, or L{None} for a box that sends
        none (a classic in flash mode).
    @ivar script_id: C{wtv-script-id} of the TellyScript the box holds
        (C{0}: none); L{Box} updates it when it is sent one.
    @ivar incarnation: C{wtv-incarnation} of the first connection.
    @ivar password: the password chosen at registration (may be empty).
    @ivar choose_user: the username to pick on a choose-user page, or L{None}
        for the first user.
    @ivar login_password: the password typed on a password page; L{None}
        means C{password}.
    @ivar extra_form_values: more form field values by name.
    """

    kind: str = "plus"
    ssid: str = "8112345600B0026b"
    incarnation: int = 1
    rom_type: str | None = "US-LC2-disk-0MB-8MB"
    system_version: str = "7181"
    capability_flags: str = "10935ffc87"
    bootrom_version: str = "2046"
    connect_session_id: str = "0a1b2c3d"
    user_agent: str = "Mozilla/4.0 WebTV/2.2.6.1 (compatible; MSIE 4.0)"
    chip_version: str = "51511296"
    cpu_speed: str = "166187148"
    sysconfig: str = "4163328"
    disk_size: str = "8006"
    client_address: str = "0.0.0.0"
    accept_language: str = "en"
    script_id: str = "12345"
    script_mod: str = "67890"
    human_name: str = "Web Tester"
    username: str = "webtester"
    password: str = ""
    contact: str = "webtester@example.com"
    choose_user: str | None = None
    login_password: str | None = None
    extra_form_values: tuple[tuple[str, str], ...] = ()

    @property
    def can_receive_compressed(self) -> bool:
        """@return: whether capability bit 3 is set."""
        return RECEIVE_COMPRESSED in parse_capability_flags(self.capability_flags)

    def form_values(self) -> dict[str, str]:
        """@return: what the user types into form fields, by field name."""
        typed = self.password if self.login_password is None \
            else self.login_password
        values = {
            "subscriber_name": self.human_name,
            "subscriber_username": self.username,
            "subscriber_password": self.password,
            "subscriber_password_again": self.password,
            "subscriber_contact": self.contact,
            "agreement": "on",
            "password": typed,
        }
        values.update(self.extra_form_values)
        return values


#: A diskless classic box still sends C{wtv-disk-size} (box_requests.json).
_CLASSIC = dict(
    kind="classic", ssid="91ABCDEF00B00256", rom_type="bf0app",
    system_version="1235", capability_flags="1009c93bef",
    bootrom_version="105", connect_session_id="11223344",
    user_agent="Mozilla/4.0 WebTV/1.4.2 (compatible; MSIE 3.0)",
    chip_version="16842752", cpu_speed="112790760", sysconfig="736935823",
    disk_size="0")

#: A classic whose application is not running (flash mode): its boot ROM
#: sends no ROM type (PROTOCOL.md 14.10).
_FLASH = dict(_CLASSIC, kind="flash", rom_type=None)

_NEW = dict(
    kind="new", ssid="81C0FFEE10B00254", system_version="16276",
    capability_flags="10935ffc8f", connect_session_id="55667788",
    user_agent="Mozilla/4.0 WebTV/2.8.2 (compatible; MSIE 4.0)")

_PROFILES = {"plus": {}, "classic": _CLASSIC, "flash": _FLASH, "new": _NEW}
PROFILE_KINDS = tuple(_PROFILES)


def make_profile(kind: str = "plus", **changes) -> BoxProfile:
    """
    @param kind: C{plus} (no compression), C{classic} (bf0app, old build,
        compression bit: the server should answer with LZPF), C{flash} (that
        classic in flash mode: boot ROM 105, no ROM type) or C{new}
        (compression bit and a new build: deflate).
    @param changes: L{BoxProfile} fields to override.
    @raise ValueError: for an unknown C{kind}.
    """
    if kind not in _PROFILES:
        raise ValueError(f"unknown box profile {kind!r}; "
                         f"choose from {', '.join(PROFILE_KINDS)}")
    return replace(BoxProfile(**_PROFILES[kind]), **changes)
