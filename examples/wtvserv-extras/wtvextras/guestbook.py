"""
wtv-guestbook: signed-in users read the book and add a line. Entries live in
an SQLite file in the service's own data folder. Each user may sign a few
times in ten minutes, so no one box can push everyone else's lines out.
"""

import sqlite3
from pathlib import Path

from wtvserv.throttle import SlidingWindow, minutesText
from wtvserv.web import Box, WTVService, error, escape, page, redirect

MAX_TEXT = 300
MAX_ENTRIES = 1000
SHOWN = 30
SIGNINGS_PER_USER = 5
SIGNING_WINDOW = 600
STATIC = Path(__file__).parent / "static"


class Guestbook:
    def __init__(self, path: Path, clock) -> None:
        self.clock = clock
        self.db = sqlite3.connect(path)
        with self.db:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY,"
                            " time INTEGER, username TEXT, text TEXT)")

    def sign(self, username: str, text: str) -> None:
        with self.db:
            self.db.execute("INSERT INTO entries (time, username, text) VALUES (?, ?, ?)",
                            (int(self.clock.seconds()), username, text[:MAX_TEXT]))
            self.db.execute("DELETE FROM entries WHERE id <= (SELECT MAX(id) FROM entries) - ?",
                            (MAX_ENTRIES,))

    def newest(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT username, text FROM entries ORDER BY id DESC LIMIT ?",
                               (SHOWN,)).fetchall()


def makeService(context) -> WTVService:
    book = Guestbook(context.dataDirectory("wtv-guestbook") / "guestbook.sqlite3",
                     context.reactor)
    service = WTVService("wtv-guestbook", context)
    service.static("/images", STATIC)
    signings = SlidingWindow(context.reactor, SIGNINGS_PER_USER, SIGNING_WINDOW)

    @service.route("/")
    def read(box: Box) -> str:
        entries = "".join(f"<li><b>{escape(name)}</b>: {escape(text)}</li>\n"
                          for name, text in book.newest()) or "<li>Nobody yet. Be the first!</li>"
        return page("Guestbook", f"""<img src="wtv-guestbook:/images/book.gif" width=32 height=32>
<ul>
{entries}</ul>
<form method="post" action="wtv-guestbook:/sign">
<input type="text" name="text" size="40" maxlength="{MAX_TEXT}">
<input type="submit" value="Sign">
</form>
<p><a href="wtv-home:/home">Home</a></p>""")

    @service.route("/sign", methods=("POST",))
    def sign(box: Box):
        text = " ".join(box.form.get("text", "").split())
        if not text:
            return redirect("wtv-guestbook:/")
        signer = f"{box.ssid} {box.user.user_id}"
        if signings.exceeded(signer):
            wait = minutesText(signings.retryAfter(signer))
            return error(403, f"You have signed the guestbook {SIGNINGS_PER_USER} times lately. "
                              f"Please wait {wait} and sign again.")
        signings.record(signer)
        book.sign(box.user.username, text)
        return redirect("wtv-guestbook:/")

    return service
