"""
Parts of the final login response (PROTOCOL.md 6.4) that do not depend on
how the box logged in: the offline user list, the feature switches, and
what service plugins add (L{ILoginHeaders}, L{IFlashUpgrade}).
"""

from __future__ import annotations

from base64 import b64encode
from functools import lru_cache
from xml.sax.saxutils import quoteattr

from twisted.logger import Logger

from wtvserv.capabilities import inMinibrowser
from wtvserv.interfaces import IFlashUpgrade, ILoginHeaders, IServiceContext

log = Logger()

#: UI and feature switches, with the values known-good servers send.
FEATURE_SWITCHES = (
    ("wtv-force-lightweight-targets", "webtv.net:/"),
    ("wtv-show-time-enabled", "true"),
    ("wtv-allow-dsc", "true"),
    ("wtv-tourist-enabled", "false"),
    ("wtv-offline-mail-enable", "false"),
    ("wtv-demo-mode", "0"),
    ("wtv-wink-deferrer-retries", "3"),
)

#: Headers the head-waiter sets itself; a plugin cannot send them.
RESERVED = frozenset({"connection", "content-type", "content-length", "wtv-encrypted",
                      "wtv-ticket", "wtv-service", "wtv-visit", "wtv-expire-all",
                      "wtv-boot-url", "wtv-relogin-url", "wtv-reconnect-url"})


def offlineUserList(account) -> str:
    """
    C{wtv-offline-user-list}: base64 of a C{<user-list>} with one C{<user>}
    per user of the account, every value XML-escaped. No password, nor
    anything derived from one, is in it.
    """
    return _userList(tuple((user.user_id, user.username, user.human_name)
                           for user in account.users))


@lru_cache(maxsize=1024)
def _userList(users: tuple[tuple[int, str, str], ...]) -> str:
    """
    L{offlineUserList} of users with these ids and names, made once per
    list: a box's is the same at each login, and four XML-escapes a user
    are no small part of a final login response.
    """
    lines = ["<user-list>"]
    for userId, username, humanName in users:
        first, _, last = humanName.partition(" ")
        lines.append(f"<user userid={quoteattr(str(userId))} "
                     f"user-name={quoteattr(username)} first-name={quoteattr(first)} "
                     f"last-name={quoteattr(last.strip())}/>")
    lines.append("</user-list>")
    xml = "\n".join(lines).encode("latin-1", "xmlcharrefreplace")
    return b64encode(xml).decode("ascii")


def featureSwitches(context: IServiceContext) -> list[tuple[str, str]]:
    switches = list(FEATURE_SWITCHES)
    if context.config.nameServer:
        switches.append(("wtv-name-server", context.config.nameServer))
    return switches


def pluginHeaders(context: IServiceContext, box, user, reconnect: bool) -> list[tuple[str, str]]:
    """What every enabled L{ILoginHeaders} plugin adds; a failing one adds nothing."""
    headers = []
    for plugin in context.plugins:
        if not ILoginHeaders.providedBy(plugin):
            continue
        try:
            added = [(str(name), str(value))
                     for name, value in plugin.loginHeaders(box, user, reconnect)]
        except Exception:
            log.failure("{name}: its login headers failed; login goes on without them",
                        name=plugin.name)
            continue
        for name, value in added:
            if name.lower() in RESERVED:
                log.warn("{plugin}: login header {header} is the head-waiter's; dropped",
                         plugin=plugin.name, header=name)
            else:
                headers.append((name, value))
    return headers


def upgradeURL(context: IServiceContext, box) -> str | None:
    """
    Where a box in its minibrowser goes after login: the first URL an
    enabled L{IFlashUpgrade} plugin offers, or L{None} (home).
    """
    if not inMinibrowser(box.headers):
        return None
    for plugin in context.plugins:
        if not IFlashUpgrade.providedBy(plugin):
            continue
        try:
            url = plugin.upgradeURL(box)
        except Exception:
            log.failure("{name}: its upgrade hook failed; the box goes home", name=plugin.name)
            continue
        if isinstance(url, str) and url.partition(":")[0] in context.directory:
            return url
        if url is not None:
            log.warn("{name}: upgrade URL {url!r} is not of an enabled service; ignored",
                     name=plugin.name, url=url)
    return None
