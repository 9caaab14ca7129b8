"""
The operator's web console: plain HTML pages served by the twistd process
itself with C{twisted.web}, on loopback by default (C{[console] listen}).

    - L{wtvserv.console.access}: the console password, the one-time
      sign-in link, sessions and their CSRF tokens;
    - L{wtvserv.console.signin}: signing in and out;
    - L{wtvserv.console.recent}: the server's recent log lines, kept in memory;
    - L{wtvserv.console.chart}: the dashboard's chart, as SVG shapes;
    - L{wtvserv.console.http}: the HTTP limits;
    - L{wtvserv.console.resource}: replies, cookies and the security headers;
    - L{wtvserv.console.pages}: the pages and the changes they make;
    - L{wtvserv.console.service}: the listening service, built by
      C{twistd wtvserv}.

Every change goes through L{wtvserv.operations}, as the commands do, on
the store threads.
"""
