"""gunicorn settings for fieldapp.

Production: ``gunicorn -c python:fieldapp.gunicorn_conf 'fieldapp:create_app()'``.

``fieldapp serve`` uses the same settings. Anything here can be overridden on the command line
(``--bind``, ``--workers`` ...). The access log shows method, path (device tokens hidden) and
status, never query strings, usernames or headers; the error log never shows a request's path
or the message of a request's exception (see :mod:`fieldapp.logredact`).
"""

from __future__ import annotations

bind = "127.0.0.1:5000"
workers = 2
threads = 4
worker_class = "gthread"
timeout = 120
accesslog = "-"
logger_class = "fieldapp.serve.RedactingLogger"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
