"""Static-weight benchmark (issue 13, item 6): the bytes a phone downloads for ``/fill`` and
one form, first visit (empty browser profile) and second (same profile), on the wire.

Makes a fresh SQLite instance (migrations, the four programme forms, one field worker), makes
the compressed variants as a deployment does (``fieldapp assets compress``), starts gunicorn
(``tests/live.py``) and drives Debian's chromium (Playwright, 390x844, never a downloaded
browser) through a byte-counting loopback relay (``tests/browser/weight.py``): log in, open
``/fill`` until its forms are prepared for offline use, open one form until Web Forms shows
it; then the same again with the browser's caches warm. The baseline in the same run: the same
visit with ``Accept-Encoding: identity`` (what the old server sent: no compression).

Results: ``bench/results/static-<UTC timestamp>.json``, ``static-latest.json`` and
``static-latest.md``.

    .venv/bin/python bench/static/run.py [--form family_registration]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402

from tests.browser.weight import Phase, measure, total  # noqa: E402
from tests.live import LiveServer  # noqa: E402

FORMS = ("family_registration", "home_visit", "school_checkin", "wellbeing_screening")
PASSWORD = "a long password"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _kb(n: int) -> str:
    return f"{n / 1000:,.1f} kB"


def _table(name: str, phases: list[Phase]) -> list[str]:
    lines = [
        f"| {name} | step | down | up | requests | static requests |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| | {phase.name} | {_kb(phase.down)} | {_kb(phase.up)} | {len(phase.requests)} "
        f"| {len(phase.static_requests)} |"
        for phase in phases
    )
    lines.append(f"| | **total** | **{_kb(total(phases))}** | | | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--form", default="family_registration")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only when run)

    with tempfile.TemporaryDirectory(prefix="fieldapp-bench-static-") as tmp:
        data_dir = Path(tmp)
        server = LiveServer(data_dir)
        server.env["FIELDAPP_STATIC_CACHE_DIR"] = str(data_dir / "static-cache")
        try:
            server.cli("db", "upgrade")
            for form in FORMS:
                server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
            server.cli("users", "create", "worker", "--role", "field_worker", "--region", "north",
                       stdin=PASSWORD + "\n")  # fmt: skip
            server.cli("assets", "compress")
            server.start(workers=1, log_dir=data_dir / "logs")
            access = data_dir / "logs" / "access.log"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                try:
                    compressed = measure(
                        browser, server.port, access, "worker", PASSWORD, args.form
                    )
                    plain = measure(
                        browser, server.port, access, "worker", PASSWORD, args.form,
                        extra_headers={"Accept-Encoding": "identity"},
                    )  # fmt: skip
                finally:
                    browser.close()
        finally:
            server.close()

    first, second = total(compressed["first"]), total(compressed["second"])
    baseline_first, baseline_second = total(plain["first"]), total(plain["second"])
    static_files = sorted({r[1] for p in compressed["first"] for r in p.static_requests})
    result = {
        "benchmark": "static",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": common.machine_facts(
            {"workers": 1, "worker-class": "gthread", "threads": 4},
            {"chromium": CHROMIUM, "viewport": "390x844"},
            None,
            (),
        ),
        "form": args.form,
        "forms_published": list(FORMS),
        "bytes": {
            "first_visit": first,
            "second_visit": second,
            "baseline_first_visit_uncompressed": baseline_first,
            "baseline_second_visit_uncompressed": baseline_second,
        },
        "static_files_first_visit": static_files,
        "static_requests_second_visit": sum(len(p.static_requests) for p in compressed["second"]),
        "phases": {
            name: [p.as_dict() for p in phases]
            for name, phases in (
                ("first", compressed["first"]),
                ("second", compressed["second"]),
                ("baseline_first", plain["first"]),
                ("baseline_second", plain["second"]),
            )
        },
    }
    assert first < 3_200_000 / 2, first
    assert result["static_requests_second_visit"] == 0
    common.write_report("static", result)
    results = ROOT / "bench" / "results"
    md = [
        f"# What a phone downloads for /fill and {args.form} ({result['when']})",
        "",
        "Bytes on the wire between chromium and gunicorn (headers and bodies, the service "
        "worker's fetches and the offline preparation of /fill included).",
        "",
        f"- first visit (empty cache): **{_kb(first)}** "
        f"(uncompressed, as before: {_kb(baseline_first)}; {first / baseline_first:.0%})",
        f"- second visit (warm cache): **{_kb(second)}**, "
        f"{result['static_requests_second_visit']} requests for static files "
        f"(uncompressed: {_kb(baseline_second)})",
        "",
        *_table("first visit", compressed["first"]),
        "",
        *_table("second visit", compressed["second"]),
        "",
        *_table("first visit, uncompressed", plain["first"]),
        "",
    ]
    (results / "static-latest.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
