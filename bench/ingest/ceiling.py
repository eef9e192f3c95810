"""The ceiling for the ingest benchmark: a bare Flask app that only parses the multipart body.

It answers the same URL as fieldapp's device-token endpoint (``/collect/key/<token>/submission``)
and does the least any OpenRosa server must do with a submission POST: let Werkzeug parse the
multipart body, read every part to the end, and answer 201 with an OpenRosa XML envelope. No
authentication, no XML parsing, no storage. Served by gunicorn with the same options as fieldapp:

    python -m gunicorn --pythonpath bench/ingest 'ceiling:create_app()' ...
"""

from __future__ import annotations

from flask import Flask, Response, request

RESPONSE = (
    '<OpenRosaResponse xmlns="http://openrosa.org/http/response">'
    '<message nature="">full submission upload was successful!</message>'
    "</OpenRosaResponse>"
)
HEADERS = {"X-OpenRosa-Version": "1.0", "X-OpenRosa-Accept-Content-Length": str(50 * 1024 * 1024)}


def create_app() -> Flask:
    app = Flask(__name__)

    @app.route("/collect/key/<token>/submission", methods=["HEAD", "POST"])
    def submission(token: str) -> Response:
        if request.method != "POST":
            return Response(status=204, headers=HEADERS)
        received = 0
        for parts in request.files.listvalues():
            for part in parts:
                received += len(part.read())
        if "xml_submission_file" not in request.files or not received:
            return Response("no xml_submission_file", status=400)
        return Response(
            RESPONSE, status=201, content_type="text/xml; charset=utf-8", headers=HEADERS
        )

    return app
