"""
The README's "Writing a service plugin" recipe, built from the README's own
text: its files are the literal blocks that start with a C{# path} comment.
It installs (offline, as tests/offline.py does) and a box reaches its
service, its pictures and the home page's link to it under the real twistd.
"""

import asyncio
import re
import subprocess

import pytest

from tests.offline import copyOfTheCheckout, offlineEnvironment
from tests.realserver import REPOSITORY, SERVICES, TWISTD, RealServer
from wtvserv.box import Box, make_profile, make_ssid

SECTION = "Writing a service plugin"
PICTURE = "hello/images/hello.gif"
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
       b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def section(readme: str, title: str) -> str:
    """@return: the text of the README section C{title}, up to the next one."""
    start = readme.index(f"\n{title}\n{'-' * len(title)}\n")
    rest = readme[start + 2 * len(title) + 3:]
    following = re.search(r"\n[^\n]+\n-{3,}\n", rest)
    return rest[:following.start()] if following else rest


def recipeFiles(text: str) -> dict[str, str]:
    """@return: each literal block whose first line is C{# some/path.py}, by path."""
    files, lines, index = {}, text.splitlines(), 0
    while index < len(lines):
        if not lines[index].rstrip().endswith("::"):
            index += 1
            continue
        index += 1
        block = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith("    ")):
            block.append(lines[index][4:])
            index += 1
        body = "\n".join(block).strip("\n")
        path = re.fullmatch(r"# ([\w./-]+\.(?:py|toml))", body.splitlines()[0] if body else "")
        if path:
            files[path.group(1)] = body + "\n"
    return files


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A new environment holding wtvserv and the recipe's distribution, built offline."""
    base = tmp_path_factory.mktemp("recipe")
    text = section((REPOSITORY / "README.rst").read_text(), SECTION)
    files = recipeFiles(text)
    assert set(files) == {"pyproject.toml", "hello/__init__.py", "hello/service.py",
                          "wtvserv/plugins/hello_dropin.py"}
    assert f"``{PICTURE}``" in text
    project = base / "wtvserv-hello"
    for path, content in files.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(content)
    (project / PICTURE).parent.mkdir()
    (project / PICTURE).write_bytes(GIF)
    return offlineEnvironment(base, copyOfTheCheckout(base / "wtvserv"), project)[0]


def test_the_recipe_installs_as_its_own_distribution(installed, tmp_path):
    """Run from elsewhere: C{python -c} would import the checkout first."""
    shown = subprocess.run([installed, "-m", "pip", "show", "wtvserv-hello"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert "Version: 1.0" in shown.stdout, shown.stdout + shown.stderr
    listing = subprocess.run([installed, "-c", TWISTD, "wtvserv", "--help"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path).stdout
    assert re.search(r"wtv-hello\s+port 1640\s+says hello", listing)


def test_a_box_reaches_the_recipes_service(installed, tmp_path):
    server = RealServer(tmp_path / "data", services=(*SERVICES, "wtv-hello"), python=installed,
                        fromCheckout=False).start()

    async def scenario():
        profile = make_profile("plus", ssid=make_ssid(90), human_name="Ann <Box>",
                               username="annhello")
        async with Box("127.0.0.1", server.ports["wtv-1800"], profile,
                       log=lambda line: None) as box:
            home = await box.power_on()
            assert "wtv-hello:/" in home.text and "Say hello" in home.text
            hello = await box.get("wtv-hello:/?q=hi")
            assert hello.status == 200 and hello.encrypted
            assert "Hello, Ann &lt;Box&gt;! You said hi" in hello.text
            picture = await box.get("wtv-hello:/images/hello.gif")
            assert picture.body == GIF
            bye = await box.get("wtv-hello:/bye")
            assert bye.status == 302 and bye.headers.get("Location") == "wtv-home:/home"
    try:
        asyncio.run(scenario())
    finally:
        server.stop()
