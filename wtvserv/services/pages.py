"""
The HTML pages of the built-in services: plain HTML 3.2-era markup and
forms, which every WebTV browser renders. Everything from a user or a box is
escaped.
"""

from __future__ import annotations

from html import escape

from wtvserv.web import page


def message(text: str | None) -> str:
    return f'<p><font color="#ff6060"><b>{escape(text)}</b></font></p>\n' if text else ""


def chooseUser(account) -> str:
    links = "\n".join(
        f'<li><a href="wtv-head-waiter:/ValidateLogin?user_id={user.user_id}&amp;user_login=true">'
        f'{escape(user.human_name)} ({escape(user.username)})</a></li>'
        for user in account.users)
    return page("Who is using this box?", f"<ul>\n{links}\n</ul>")


def password(user, problem: str | None = None) -> str:
    return page("Enter your password", f"""{message(problem)}<p>Hello, {escape(user.human_name)}.
Please type the password for <b>{escape(user.username)}</b>.</p>
<form method="post" action="wtv-head-waiter:/ValidateLogin">
<input type="hidden" name="user_id" value="{user.user_id}">
<input type="password" name="password" size="20" maxlength="64">
<input type="submit" value="Continue">
</form>""")


def registrationSplash() -> str:
    return page("Welcome to WebTV", """<meta http-equiv="refresh" content="2; url=wtv-register:/register?">
<p>This box has no account yet. Let's set one up.</p>
<p><a href="wtv-register:/register?">Continue</a></p>""")


def registrationForm(values: dict[str, str], problem: str | None = None) -> str:
    name = escape(values.get("subscriber_name", ""), quote=True)
    username = escape(values.get("subscriber_username", ""), quote=True)
    return page("Sign up", f"""{message(problem)}<form method="post" action="wtv-register:/ValidateRegistration">
<p>Your name:<br><input type="text" name="subscriber_name" value="{name}" size="24" maxlength="32"></p>
<p>User name (3 to 16 letters, digits, _ or -, starting with a letter):<br>
<input type="text" name="subscriber_username" value="{username}" size="16" maxlength="16"></p>
<p>Password (optional):<br><input type="password" name="subscriber_password" size="16" maxlength="64"></p>
<p>Password again:<br><input type="password" name="subscriber_password_again" size="16" maxlength="64"></p>
<p><input type="checkbox" name="agreement" value="yes"> I agree to use this service kindly.</p>
<p><input type="submit" value="Sign up"></p>
</form>""")


def registered(user) -> str:
    return page("You're signed up", f"""<p>Welcome, {escape(user.human_name)}!
Your user name is <b>{escape(user.username)}</b>.</p>
<p><a href="wtv-register:/FinishRegistration">Continue</a></p>""")


def registrationReview(values: dict[str, str]) -> str:
    """minisrv's review step: the values again, as hidden fields, to confirm."""
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(values.get(name, ""), quote=True)}">\n'
        for name in ("subscriber_name", "subscriber_username", "subscriber_password",
                     "subscriber_password_again", "subscriber_contact",
                     "subscriber_contact_method", "agreement", "registering"))
    return page("Is this right?", f"""<p>Name: <b>{escape(values.get("subscriber_name", ""))}</b><br>
User name: <b>{escape(values.get("subscriber_username", ""))}</b></p>
<form method="post" action="wtv-register:/ValidateReviewAccountInfo">
{hidden}<input type="submit" name="SignUp" value="Sign Up">
<input type="submit" name="Change" value="Change">
</form>""")


def loginSplash(user, url: str) -> str:
    """The page a box shows once logged in; its META refresh goes on to C{url}."""
    target = escape(url, quote=True)
    return page("Welcome", f"""<meta http-equiv="refresh" content="1; url={target}">
<p>Welcome, {escape(user.human_name)}!</p>
<p><a href="{target}">Continue</a></p>""")


def badDisk(url: str) -> str:
    """The notice for a box reporting a failed disk; its link goes on to C{url}."""
    return page("Your box's disk has a problem", f"""<p>Your WebTV box reports that its disk
is failing. You can go on using the service, but pages, mail and downloads that your box
keeps on its disk may be lost.</p>
<p>If this message comes back each time you connect, the box needs repair.</p>
<p><a href="{escape(url, quote=True)}">Continue</a></p>""")
