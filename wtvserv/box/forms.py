"""
What the simulated box reads from an HTML page: forms, links and a META
refresh, plus WTVP URL helpers (C{service:/path?query}).

This is a small extraction with L{html.parser}, not a browser: it knows the
elements WebTV registration and login pages use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
_REFRESH = re.compile(r"^\s*\d*\s*[;,]?\s*(?:url\s*=\s*)?(.*)$",
                      re.IGNORECASE | re.DOTALL)

#: Submit buttons whose label or name says "go back"; the box never presses
#: them.
_BACK_WORDS = ("change", "back", "cancel", "edit", "previous")


# -- URLs ------------------------------------------------------------------

def split_url(url: str) -> tuple[str, str, str]:
    """
    Split a WTVP URL into its service, path and query.

    @return: C{(service, path, query)}; C{query} without its C{?}. The
        slash-less form C{wtv-home:home} gives path C{/home}.
    @raise ValueError: when C{url} has no C{service:} prefix.
    """
    match = _SCHEME.match(url)
    if match is None:
        raise ValueError(f"not an absolute WTVP URL: {url!r}")
    service, rest = match.group(1), match.group(2)
    path, _, query = rest.partition("?")
    if service != "client" and not path.startswith("/"):
        path = "/" + path
    return service, path, query


def is_absolute(url: str) -> bool:
    """@return: whether C{url} starts with a C{service:} scheme."""
    return _SCHEME.match(url) is not None


def resolve(base: str, reference: str) -> str:
    """
    Resolve a link or form action against the URL of the page holding it.

    @param base: an absolute URL, e.g. C{wtv-head-waiter:/choose-user?}.
    @param reference: absolute (C{wtv-log:/log}), service-relative
        (C{/ValidateLogin?x=1}), relative (C{ValidateLogin?x=1}) or a bare
        query (C{?x=1}).
    @return: the absolute URL.
    """
    reference = reference.strip()
    if is_absolute(reference):
        return reference
    service, path, query = split_url(base)
    if not reference:
        return base
    if reference.startswith("?"):
        return f"{service}:{path}{reference}"
    if reference.startswith("/"):
        return f"{service}:{reference}"
    directory = path.rsplit("/", 1)[0]
    return f"{service}:{directory}/{reference}"


# -- Page contents ---------------------------------------------------------

@dataclass
class Control:
    """
    One form control.

    @ivar kind: the input type (C{text}, C{hidden}, C{password}, C{checkbox},
        C{radio}, C{submit}, C{image}, C{reset}, C{button}), or C{textarea} /
        C{select}.
    @ivar checked: for checkboxes and radio buttons.
    """

    kind: str
    name: str
    value: str = ""
    checked: bool = False


@dataclass
class Form:
    """A C{<form>}: where it goes and its controls, in page order."""

    action: str = ""
    method: str = "GET"
    controls: list[Control] = field(default_factory=list)

    def names(self) -> set[str]:
        """@return: the names of all named controls."""
        return {control.name for control in self.controls if control.name}


@dataclass
class Link:
    """An C{<a href>} with its visible text (whitespace collapsed)."""

    href: str
    text: str = ""


@dataclass
class Page:
    """
    What the box found on a page.

    @ivar refresh: the URL of a C{<meta http-equiv=refresh>}, if any.
    """

    forms: list[Form] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    refresh: str | None = None


class _PageParser(HTMLParser):
    """Collects forms, links and the META refresh of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None
        self._link: Link | None = None
        self._select: Control | None = None
        self._textarea: Control | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = {name: (value or "") for name, value in attrs}
        handler = getattr(self, f"_start_{tag}", None)
        if handler is not None:
            handler(attributes)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "a":
            self._link = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.text = " ".join((self._link.text + " " + data).split())
        if self._textarea is not None:
            self._textarea.value += data

    def _start_meta(self, attributes: dict) -> None:
        if attributes.get("http-equiv", "").lower() != "refresh":
            return
        match = _REFRESH.match(attributes.get("content", ""))
        url = match.group(1).strip().strip("'\"") if match else ""
        if url:
            self.page.refresh = url

    def _start_a(self, attributes: dict) -> None:
        if "href" in attributes:
            self._link = Link(attributes["href"].strip())
            self.page.links.append(self._link)

    def _start_form(self, attributes: dict) -> None:
        self._form = Form(action=attributes.get("action", ""),
                          method=attributes.get("method", "GET").upper())
        self.page.forms.append(self._form)

    def _add(self, control: Control) -> None:
        if self._form is not None:
            self._form.controls.append(control)

    def _start_input(self, attributes: dict) -> None:
        kind = attributes.get("type", "text").lower()
        default = "on" if kind in ("checkbox", "radio") else ""
        self._add(Control(kind, attributes.get("name", ""),
                          attributes.get("value", default),
                          "checked" in attributes))

    def _start_button(self, attributes: dict) -> None:
        kind = attributes.get("type", "submit").lower()
        self._add(Control(kind, attributes.get("name", ""),
                          attributes.get("value", "")))

    def _start_textarea(self, attributes: dict) -> None:
        self._textarea = Control("textarea", attributes.get("name", ""))
        self._add(self._textarea)

    def _start_select(self, attributes: dict) -> None:
        self._select = Control("select", attributes.get("name", ""))
        self._add(self._select)

    def _start_option(self, attributes: dict) -> None:
        select = self._select
        if select is None:
            return
        value = attributes.get("value", "")
        if "selected" in attributes or not select.checked:
            select.value = value
            select.checked = True   # "an option has been chosen"


def parse_page(html: str) -> Page:
    """@return: the forms, links and META refresh of C{html}."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


# -- Filling forms ---------------------------------------------------------

def _is_way_back(control: Control) -> bool:
    label = f"{control.name} {control.value}".lower()
    return any(word in label for word in _BACK_WORDS)


def _chosen_submit(form: Form) -> Control | None:
    """@return: the button the box presses: the first that does not go back."""
    for control in form.controls:
        if control.kind in ("submit", "image") and not _is_way_back(control):
            return control
    return None


def form_fields(form: Form, values: dict[str, str]) -> list[tuple[str, str]]:
    """
    Fill C{form} the way a user would and list what the browser submits.

    Named controls found in C{values} get that value (a checkbox or radio
    button is checked when its name is in C{values}); hidden and other
    controls keep their values; unchecked boxes are left out; only one
    submit button (L{_chosen_submit}) is sent.

    @return: C{(name, value)} pairs in page order.
    """
    pressed = _chosen_submit(form)
    fields = []
    for control in form.controls:
        if not control.name or control.kind in ("reset", "button"):
            continue
        if control.kind in ("submit", "image") and control is not pressed:
            continue
        if control.kind in ("checkbox", "radio"):
            if control.name in values or control.checked:
                fields.append((control.name, control.value))
            continue
        if control.kind == "hidden":
            fields.append((control.name, control.value))
        else:
            fields.append((control.name,
                           values.get(control.name, control.value)))
    return fields


def encode_fields(fields: list[tuple[str, str]] | dict[str, str]) -> bytes:
    """@return: C{fields} as C{application/x-www-form-urlencoded} bytes."""
    items = fields.items() if isinstance(fields, dict) else fields
    return urlencode(list(items)).encode("utf-8")


def submission(page_url: str, form: Form,
               values: dict[str, str]) -> tuple[str, str, bytes | None]:
    """
    @return: C{(method, url, body)} submitting C{form} of the page at
        C{page_url}; C{body} is L{None} for a GET form, whose fields go into
        the query.
    """
    url = resolve(page_url, form.action or page_url)
    encoded = encode_fields(form_fields(form, values))
    if form.method == "POST":
        return "POST", url, encoded
    return "GET", url.split("?", 1)[0] + "?" + encoded.decode("ascii"), None
