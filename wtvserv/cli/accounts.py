"""placeholder"""


def addCommand(commands) -> None:
    pass
