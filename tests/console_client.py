"""
A small HTTP client for the console tests: real TCP, cookies kept as a
browser keeps them, redirects not followed (the tests look at them).
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlencode, urlsplit

from tests.test_cli import runCommand

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Answer:
    status: int
    headers: Message
    body: str

    def csrf(self) -> str:
        return _CSRF.search(self.body).group(1)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class ConsoleClient:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> Answer:
        body = urlencode(form).encode() if form is not None else None
        sent = dict(headers or {})
        if body is not None:
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            answer = Answer(response.status, response.headers,
                            response.read().decode("utf-8"))
        finally:
            connection.close()
        for cookie in answer.headers.get_all("Set-Cookie") or ():
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, **form) -> Answer:
        return self.request("POST", path, form)

    def signIn(self, password: str) -> Answer:
        form = self.get("/signin")
        return self.post("/signin", csrf=form.csrf(), password=password)

    def change(self, page: str, path: str, **form) -> Answer:
        """Post a form of C{page} with its CSRF token, as a browser would."""
        return self.post(path, csrf=self.get(page).csrf(), **form)


def setConsolePassword(dataDir, password: str) -> None:
    dataDir.mkdir(parents=True, exist_ok=True)
    result = runCommand("console", "set-password", "--data", str(dataDir),
                        input=password + "\n")
    assert result.returncode == 0, result.stderr
