"""
The web console over real TCP, against the real twistd process: signing
in, sessions and their cookies, CSRF tokens, limits and security headers.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.console_client import ConsoleClient, setConsolePassword
from tests.test_hostile_boxes import waitFor
from tests.realserver import LOOPBACK_EXEMPT, RealServer

PASSWORD = "console secret"


@pytest.fixture
def server(tmp_path):
    setConsolePassword(tmp_path / "data", PASSWORD)
    with RealServer(tmp_path / "data") as running:
        yield running


def signedIn(server) -> ConsoleClient:
    client = ConsoleClient(server.consoleURL)
    answer = client.signIn(PASSWORD)
    assert (answer.status, answer.location) == (303, "/")
    return client


def test_every_page_but_signing_in_wants_a_session(server):
    client = ConsoleClient(server.consoleURL)
    for path in ("/", "/accounts", "/bans", "/reports", "/log", "/accounts/x"):
        answer = client.get(path)
        assert (answer.status, answer.location) == (303, "/signin"), path
    form = client.get("/signin")
    assert form.status == 200
    assert '<label for="password">Password</label>' in form.body and "Sign in" in form.body


def test_the_right_password_opens_the_dashboard_with_a_strict_cookie(server):
    client = ConsoleClient(server.consoleURL)
    form = client.get("/signin")
    answer = client.post("/signin", csrf=form.csrf(), password=PASSWORD)
    assert (answer.status, answer.location) == (303, "/")
    cookie = next(c for c in answer.headers.get_all("Set-Cookie")
                  if c.startswith("wtvserv-console="))
    flags = {flag.strip() for flag in cookie.split(";")[1:]}
    assert flags == {"Path=/", "HttpOnly", "SameSite=Strict"}, "no Secure over plain HTTP"
    dashboard = client.get("/")
    assert dashboard.status == 200 and "<h1>Dashboard</h1>" in dashboard.body
    for element in ('id="connected"', 'id="logged-in"', 'id="activity"', "<svg",
                    'id="recent-logins"', 'id="errors"', 'id="switches"', "Sign out"):
        assert element in dashboard.body, element
    assert "operator from 127.0.0.1 signed in with the password" in server.log
    assert PASSWORD not in server.log


def test_a_second_sign_in_page_or_the_icon_keeps_the_first_form_good(server):
    """Chromium asks for /favicon.ico after every page; a second tab loads /signin again."""
    client = ConsoleClient(server.consoleURL)
    first = client.get("/signin")
    icon = client.get("/favicon.ico")
    assert (icon.status, icon.location) == (404, None)
    again = client.get("/signin")
    assert again.csrf() == first.csrf()
    answer = client.post("/signin", csrf=first.csrf(), password=PASSWORD)
    assert (answer.status, answer.location) == (303, "/")


def test_a_sign_in_cookie_of_another_shape_is_not_taken_as_a_token(server):
    client = ConsoleClient(server.consoleURL)
    client.cookies["wtvserv-console-signin"] = "x"
    form = client.get("/signin")
    assert form.csrf() != "x" and len(form.csrf()) == 43


def test_pages_carry_the_security_headers(server):
    client = signedIn(server)
    for path in ("/", "/signin", "/static/console.css"):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert headers["Server"] == "wtvserv", "no software version for a prober"


def test_a_wrong_password_is_refused_and_too_many_are_limited(server):
    client = ConsoleClient(server.consoleURL)
    for _ in range(5):
        answer = client.signIn("not it at all")
        assert answer.status == 403 and "Wrong password." in answer.body
    answer = client.signIn(PASSWORD)
    assert answer.status == 429, "the limit holds even for the right password"
    assert "Too many sign-in attempts; try again in " in answer.body
    assert int(answer.headers["Retry-After"]) > 200
    assert "wtvserv-console" not in client.cookies
    assert "console: a wrong password from 127.0.0.1" in server.log


def test_a_form_without_its_token_changes_nothing(server):
    client = signedIn(server)
    for form in ({}, {"csrf": "forged"}):
        answer = client.post("/switches", name="maintenance", state="on", **form)
        assert answer.status == 403
        assert "This form has expired. Reload the page and try again." in answer.body
    assert "Maintenance off" not in client.get("/").body, "maintenance stayed off"
    other = signedIn(server)
    stolen = other.get("/").csrf()
    assert client.post("/switches", name="maintenance", state="on",
                       csrf=stolen).status == 403, "a token is bound to its session"
    noToken = ConsoleClient(server.consoleURL)
    noToken.get("/signin")
    assert noToken.post("/signin", password=PASSWORD).status == 403


def test_signing_out_ends_the_session(server):
    client = signedIn(server)
    cookies = dict(client.cookies)
    answer = client.change("/", "/signout")
    assert (answer.status, answer.location) == (303, "/signin")
    assert "wtvserv-console" not in client.cookies
    client.cookies = cookies
    assert client.get("/").status == 303, "the old cookie opens nothing"


def test_a_session_expires_when_unused(tmp_path):
    setConsolePassword(tmp_path / "data", PASSWORD)
    config = LOOPBACK_EXEMPT + "[console]\nsession_minutes = 0.02\n"
    with RealServer(tmp_path / "data", config=config) as server:
        client = signedIn(server)
        assert client.get("/").status == 200
        time.sleep(1.5)
        assert (client.get("/").location) == "/signin"
        page = client.get("/signin")
        assert "Your session has expired. Please sign in again." in page.body


def test_the_one_time_link_signs_in_once_and_is_never_logged(tmp_path):
    with RealServer(tmp_path / "data") as server:
        link = server.consoleSignInLink()
        path = link.removeprefix(server.consoleURL)
        client = ConsoleClient(server.consoleURL)
        answer = client.get(path)
        assert (answer.status, answer.location) == (303, "/")
        assert client.get("/").status == 200
        again = ConsoleClient(server.consoleURL).get(path)
        assert again.status == 403 and "used or has expired" in again.body
        assert not (tmp_path / "data" / "console-link.txt").exists()
        token = path.partition("once=")[2]
        assert token and token not in server.log
        assert "console-link.txt" in server.log


def test_too_large_a_form_is_refused_before_it_is_read(server):
    with socket.create_connection(("127.0.0.1", server.consolePort), timeout=5) as sock:
        sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 413 ")
    assert "console: a request body of 10000000 bytes from 127.0.0.1 refused" in server.log
    assert ConsoleClient(server.consoleURL).get("/signin").status == 200


def test_a_busy_console_port_is_one_line_and_an_exit(tmp_path):
    from tests.test_start_errors import oneLine, twistd
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = twistd("--data", str(tmp_path / "data"),
                        f"--console=tcp:{port}:interface=127.0.0.1")
    assert oneLine(result) == (f"wtvserv: console cannot listen on tcp:{port}:"
                               "interface=127.0.0.1: Address already in use")


def test_a_process_run_for_the_console_alone_serves_it(tmp_path):
    setConsolePassword(tmp_path / "data", PASSWORD)
    with RealServer(tmp_path / "data", listening=("wtv-log",),
                    extraArgs=["--run", "console"]) as server:
        client = signedIn(server)
        assert "<h1>Dashboard</h1>" in client.get("/").body
    with RealServer(tmp_path / "other", listening=("wtv-log",)) as server:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.consolePort), timeout=2)


def test_set_password_keeps_only_a_hash_and_refuses_a_short_one(tmp_path):
    from tests.test_cli import runCommand
    dataDir = tmp_path / "data"
    setConsolePassword(dataDir, PASSWORD)
    stored = (dataDir / "console-password")
    assert stored.read_text().startswith("scrypt$") and PASSWORD not in stored.read_text()
    assert stored.stat().st_mode & 0o777 == 0o600
    result = runCommand("console", "set-password", "--data", str(dataDir), input="short\n")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("wtvserv: a password has 8 to 64 characters; nothing changed\n")
    result = runCommand("console", "set-password", "--data", str(tmp_path / "none"),
                        input=PASSWORD + "\n")
    assert result.returncode == 1 and result.stderr.count("\n") == 1


def rawExchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_garbage_gets_a_status_and_the_console_carries_on(server):
    port = server.consolePort
    assert rawExchange(port, b"\x00\x01\x02 nonsense\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 20000 + b"\r\n\r\n"
    assert rawExchange(port, huge).startswith(b"HTTP/1.1 431 ")
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 600 + b"\r\n"
    assert rawExchange(port, many).startswith(b"HTTP/1.1 400 ")
    assert "console: a line longer than 16384 bytes from 127.0.0.1 refused" in server.log
    notUTF8 = (b"POST /signin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n\r\n"
               b"password=%FF")
    assert rawExchange(port, notUTF8).startswith(b"HTTP/1.1 400 ")
    assert "console: a form that is not UTF-8 from 127.0.0.1 refused" in server.log
    assert signedIn(server).get("/").status == 200
    assert "Traceback" not in server.log


def test_connections_beyond_the_cap_are_closed_at_once(server):
    from wtvserv.console.http import MAX_CONNECTIONS
    held = [socket.create_connection(("127.0.0.1", server.consolePort), timeout=5)
            for _ in range(MAX_CONNECTIONS)]
    try:
        try:
            answer = rawExchange(server.consolePort, b"GET /signin HTTP/1.1\r\nHost: x\r\n\r\n")
        except ConnectionResetError:
            answer = b""
        assert answer == b"", "closed unanswered"
        # Closed in the turn that logs it, before the turn's lines are written.
        assert waitFor(lambda: f"console: a connection from 127.0.0.1 refused, "
                               f"{MAX_CONNECTIONS} are open" in server.log)
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)
    assert ConsoleClient(server.consoleURL).get("/signin").status == 200


def test_a_request_trickling_in_is_cut_off(server):
    from wtvserv.console.http import REQUEST_TIMEOUT
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.consolePort), timeout=30) as sock:
        answer = b""
        try:
            for byte in b"GET /signin HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                # Look for the answer before sending more: a byte sent after
                # the server has closed brings back a reset, which can throw
                # away the answer still unread.
                if _readable(sock):
                    break
                sock.sendall(bytes([byte]))
                time.sleep(0.5)
            answer = sock.recv(100)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert REQUEST_TIMEOUT <= time.monotonic() - started < REQUEST_TIMEOUT + 5
    assert f"console: a request not sent within {REQUEST_TIMEOUT} s from 127.0.0.1" in server.log


def _readable(sock) -> bool:
    import select
    return bool(select.select([sock], [], [], 0)[0])


def test_a_console_on_a_unix_socket_works_and_logs_its_callers_as_local(tmp_path):
    path = tmp_path / "console.sock"
    setConsolePassword(tmp_path / "data", PASSWORD)
    with RealServer(tmp_path / "data", extraArgs=[f"--console=unix:{path}:mode=600"]) as server:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(path))
            sock.sendall(b"POST /signin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 12\r\n\r\npassword=bad")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 403 ")
        assert "console: a sign-in form without its token from local" in server.log
        assert "Traceback" not in server.log


def test_a_page_of_another_site_rebound_to_this_address_is_refused(tmp_path):
    """DNS rebinding: the browser sends the other site's name as Host."""
    setConsolePassword(tmp_path / "data", PASSWORD)
    config = LOOPBACK_EXEMPT + '[console]\nnames = ["Console.Example"]\n'
    with RealServer(tmp_path / "data", config=config) as server:
        client = ConsoleClient(server.consoleURL)
        refused = client.request("GET", "/signin", headers={"Host": "evil.example:80"})
        assert refused.status == 421 and "[console] names" in refused.body
        assert "console: a request for host 'evil.example' refused" in server.log
        for host in (f"localhost:{server.consolePort}", "console.example", "[::1]:1680",
                     "127.0.0.1"):
            answer = client.request("GET", "/signin", headers={"Host": host})
            assert answer.status == 200, host
