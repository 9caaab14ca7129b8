"""Where the box goes next during power-on, like a user at the box."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from wtvserv.box.errors import BoxError
from wtvserv.box.forms import Link, Page, parse_page, resolve, submission
from wtvserv.box.messages import Response
from wtvserv.box.profile import BoxProfile

PREREGISTER_URL = "wtv-1800:/preregister?scriptless-visit-reason=10&0"
RELOGIN_URL = "wtv-1800:/preregister?relogin=true"

#: A navigation repeated this many times during power-on is a loop.
LOOP_LIMIT = 3

_FORM_FIELDS = {"subscriber_name", "subscriber_username", "password",
                "subscriber_password", "agreement"}


@dataclass(frozen=True)
class Step:
    """One navigation: a request the box decides to make."""

    method: str
    url: str
    body: bytes | None = None


def _is_client_url(url: str) -> bool:
    return url.strip().lower().startswith("client:")


def _is_relogin(url: str) -> bool:
    return url.strip().lower().split("?")[0] in ("client:relogin",
                                                 "client:relog")


def _user_matches(link: Link, wanted: str) -> bool:
    """
    @return: whether C{link} names user C{wanted}: as a whole word of its
        text (e.g. C{Kid (kiddo)}) or as a value in its query.
    """
    wanted = wanted.casefold()
    words = re.findall(r"[\w-]+", link.text.casefold())
    query = link.href.partition("?")[2]
    values = [value.casefold() for _, value in parse_qsl(query)]
    return wanted in words or wanted in values


class Navigator:
    """
    Decides, like a user at the box, where to go after each response of
    the power-on flow, and notices loops.
    """

    def __init__(self, profile: BoxProfile, log: Callable[[str], object]):
        self.profile = profile
        self.log = log
        self.seen: Counter[Step] = Counter()

    def count(self, step: Step, number: int) -> None:
        """
        Note that C{step} is about to be made.

        @raise BoxError: when it is made for the L{LOOP_LIMIT}th time.
        """
        self.seen[step] += 1
        if self.seen[step] >= LOOP_LIMIT:
            raise BoxError(f"step {number}: loop: {step.method} {step.url} "
                           f"requested {self.seen[step]} times")

    def next_step(self, response: Response) -> Step:
        """
        @return: where to go next: a C{Location} (3xx) or C{wtv-visit}, else
            what the page offers.
        @raise BoxError: when there is nowhere to go.
        """
        target = self._redirect_target(response)
        if target is not None:
            return Step("GET", target)
        step = self._page_step(response)
        if step is None:
            raise BoxError("nothing to follow: no wtv-visit, Location, form, "
                           "link or refresh")
        return step

    def _redirect_target(self, response: Response) -> str | None:
        """
        @return: the first C{Location} (3xx only) or C{wtv-visit} URL that
            is not an ignored C{client:} URL; C{client:relogin} means the
            wtv-1800 relogin URL.
        """
        candidates = response.headers.getAll("wtv-visit")
        if 300 <= response.status < 400:
            candidates = response.headers.getAll("Location") + candidates
        for url in candidates:
            if _is_relogin(url):
                self.log(f".. {url}: back to wtv-1800")
                return RELOGIN_URL
            if _is_client_url(url):
                self.log(f".. ignoring {url}")
                continue
            return resolve(response.url, url)
        return None

    def _page_step(self, response: Response) -> Step | None:
        """@return: the step an HTML page leads to, if any."""
        if response.status != 200 or not response.body:
            return None
        page = parse_page(response.text)
        for choose in (self._choose_user, self._submit_form, self._refresh,
                       self._follow_link):
            step = choose(response.url, page)
            if step is not None:
                return step
        return None

    def _choose_user(self, url: str, page: Page) -> Step | None:
        """On a choose-user page, pick the profile's user (or the first)."""
        links = [link for link in page.links if "user_id=" in link.href]
        if not links:
            return None
        wanted = self.profile.choose_user
        if wanted is None:
            chosen = links[0]
        else:
            matching = [link for link in links if _user_matches(link, wanted)]
            if not matching:
                raise BoxError(f"no user {wanted!r} on the choose-user page")
            chosen = matching[0]
        self.log(f".. choosing user {chosen.text!r}")
        return Step("GET", resolve(url, chosen.href))

    def _submit_form(self, url: str, page: Page) -> Step | None:
        """Fill and submit the form the profile knows fields of (or the
        first form)."""
        if not page.forms:
            return None
        known = [form for form in page.forms if form.names() & _FORM_FIELDS]
        form = (known or page.forms)[0]
        method, target, body = submission(url, form,
                                          self.profile.form_values())
        self.log(f".. submitting the form to {target}")
        return Step(method, target, body)

    def _refresh(self, url: str, page: Page) -> Step | None:
        if page.refresh is None:
            return None
        self.log(f".. following the refresh to {page.refresh}")
        return Step("GET", resolve(url, page.refresh))

    def _follow_link(self, url: str, page: Page) -> Step | None:
        """Last resort: the first wtv- link not requested yet."""
        for link in page.links:
            target = resolve(url, link.href)
            visited = self.seen[Step("GET", target)]
            if target.startswith("wtv-") and not visited:
                self.log(f".. following the link {link.text!r}")
                return Step("GET", target)
        return None
