from twisted.application.service import ServiceMaker

wtvserv = ServiceMaker(
    "wtvserv",
    "wtvserv.tap",
    "WebTV services: wtv-1800, wtv-head-waiter, wtv-register, wtv-log and plugins.",
    "wtvserv",
)
