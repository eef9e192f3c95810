#!/usr/bin/env python3
"""Fill every programme form with JavaRosa and store the submissions as test data.

The submissions in ``tests/data/submissions/`` are what ODK Collect's form engine (JavaRosa 5.1,
through the Collect emulator's ``Fill``) produces for the programme forms in ``forms/``. Tests
read them without Java; this script regenerates them when the forms change.

For each form it compiles the XLSForm with :func:`fieldapp.forms.xlsform.compile_xlsform`, gives
the follow-up forms fixed case lists (``households.csv``, ``adults.csv``, ``children.csv``), and
runs ``Fill`` for seeds 1-3, for a few cases with fixed answers, and once as an edit of the seed 1
submission (which sets ``meta/deprecatedID``). Output::

    tests/data/submissions/
        caselists/{households,adults,children}.csv
        <form_id>/form.xml
        <form_id>/<case>/submission.xml, fill-result.json, attachment files

Instance ids and timestamps are not reproducible (JavaRosa's ``uuid()`` is not seeded), so each
run rewrites the whole folder.

Needs Java 17; the emulator lives in ``../shared/tools/collect-emulator`` next to the repository
(``--emulator`` to point elsewhere). Usage::

    .venv/bin/python scripts/make_javarosa_submissions.py [--emulator DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fieldapp.forms.xform import parse_xform  # noqa: E402
from fieldapp.forms.xlsform import compile_xlsform  # noqa: E402

DEFAULT_EMULATOR = REPO.parent / "shared" / "tools" / "collect-emulator"
DEFAULT_OUT = REPO / "tests" / "data" / "submissions"
DEVICE_ID = "collect:fieldapptest"
USERNAME = "worker1"
MAX_ATTACHMENT_BYTES = 50 * 1024
SEEDS = (1, 2, 3)


def _uuid(group: str, n: int) -> str:
    tail = group.rjust(11, "1") + str(n)
    return f"11111111-1111-4111-8111-{tail}"


HOUSEHOLDS = [_uuid("1111110", n) for n in (1, 2, 3)]  # ...-111111111101
ADULTS = [_uuid("2220", n) for n in (1, 2, 3)]  # ...-111111122201
CHILDREN = [_uuid("3330", n) for n in (1, 2, 3)]  # ...-111111133301

CASE_LISTS: dict[str, tuple[list[str], list[list[str]]]] = {
    "households": (
        ["name", "label", "__version", "settlement", "district", "household_size", "next_visit"],
        [
            [HOUSEHOLDS[0], "Ахметова - Алматы", "1", "Алматы", "Бостандык", "5", "2026-12-01"],
            [HOUSEHOLDS[1], "Сейтова - Шымкент", "2", "Шымкент", "Абай", "7", "2026-12-03"],
            [HOUSEHOLDS[2], "Иванова - Астана", "1", "Астана", "Есиль", "3", ""],
        ],
    ),
    "adults": (
        ["name", "label", "__version", "full_name", "birth_year", "household_id"],
        [
            [ADULTS[0], "Ахметова Айгуль - Алматы", "1", "Ахметова Айгуль", "1991", HOUSEHOLDS[0]],
            [ADULTS[1], "Сейтова Мадина - Шымкент", "1", "Сейтова Мадина", "1988", HOUSEHOLDS[1]],
            [ADULTS[2], "Иванова Ольга - Астана", "3", "Иванова Ольга", "1995", HOUSEHOLDS[2]],
        ],
    ),
    "children": (
        ["name", "label", "__version", "full_name", "sex", "birth_date", "household_id"],
        [
            [CHILDREN[0], "Ахметов Арман (2012)", "1", "Ахметов Арман", "male", "2012-03-04",
             HOUSEHOLDS[0]],
            [CHILDREN[1], "Ахметова Дана (2014)", "2", "Ахметова Дана", "female", "2014-07-21",
             HOUSEHOLDS[0]],
            [CHILDREN[2], "Сейтов Ерлан (2010)", "1", "Сейтов Ерлан", "male", "2010-11-30",
             HOUSEHOLDS[1]],
        ],
    ),
}  # fmt: skip


@dataclass
class Case:
    """One Fill run."""

    name: str
    seed: int
    answers: dict[str, Any] = field(default_factory=dict)
    edit_of: str | None = None  # the case whose submission this run edits


EDIT_ANSWERS = {
    "family_registration": {"/data/household/address_notes": "Edited: second floor, flat 4"},
    "home_visit": {"/data/closing/worker_notes": "Edited after the visit"},
    "school_checkin": {"/data/closing/teacher_notes": "Edited by the teacher"},
    "wellbeing_screening": {"/data/referral_section/screener_notes": "Edited notes"},
}

EXTRA_CASES: dict[str, list[Case]] = {
    "family_registration": [
        Case(
            "children3",
            seed=11,
            answers={
                "/data/consent/consent_given": "yes",
                "#repeat:/data/children": 3,
                "/data/household/household_size": 6,
            },
        ),
        Case("no_consent", seed=16, answers={"/data/consent/consent_given": "no"}),
    ],
    "home_visit": [
        Case(
            "met",
            seed=14,
            answers={"/data/household": HOUSEHOLDS[0], "/data/visit_outcome": "met"},
        ),
    ],
    "school_checkin": [
        Case(
            "enrolled",
            seed=15,
            answers={
                "/data/child": CHILDREN[1],
                "/data/enrolment/school_status": "school",
                "/data/child_voice/child_assent": "yes",
            },
        ),
    ],
    "wellbeing_screening": [
        Case(
            "adult",
            seed=12,
            answers={"/data/subject_type": "adult", "/data/adult_screening/adult": ADULTS[0]},
        ),
        Case(
            "child",
            seed=13,
            answers={
                "/data/subject_type": "child",
                "/data/child_screening/child": CHILDREN[0],
                "/data/child_screening/child_assent": "yes",
            },
        ),
    ],
}


def cases_for(form_id: str) -> list[Case]:
    cases = [Case(f"seed{seed}", seed) for seed in SEEDS]
    cases.extend(EXTRA_CASES.get(form_id, []))
    cases.append(Case("edit_seed1", 101, answers=EDIT_ANSWERS.get(form_id, {}), edit_of="seed1"))
    return cases


def setup_emulator(emulator: Path) -> Path:
    out = subprocess.run(
        [str(emulator / "setup.sh")], check=True, capture_output=True, text=True
    ).stdout
    cache = Path(out.strip().splitlines()[-1])
    if not (cache / "Fill.class").is_file() or not (cache / "ODK_Validate.jar").is_file():
        raise SystemExit(f"setup.sh did not produce Fill.class and ODK_Validate.jar in {cache}")
    return cache


def write_case_lists(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (header, rows) in CASE_LISTS.items():
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)


def relativise(value: Any, work: Path, form_id: str) -> Any:
    """Replace paths in the temporary work folder by paths relative to a stored case folder."""
    if isinstance(value, dict):
        return {k: relativise(v, work, form_id) for k, v in value.items()}
    if isinstance(value, list):
        return [relativise(v, work, form_id) for v in value]
    if isinstance(value, str) and str(work) in value:
        for old, new in (
            (f"{work}/forms/{form_id}.xml", "../form.xml"),
            (f"{work}/caselists", "../../caselists"),
            (f"{work}/runs/{form_id}/", "../"),
            (str(work), "<work>"),
        ):
            value = value.replace(old, new)
    return value


def run_fill(
    cache: Path, form: Path, media: Path, out: Path, case: Case, source: Path | None
) -> dict[str, Any]:
    out.mkdir(parents=True)
    cmd = ["java", "-cp", f"{cache / 'ODK_Validate.jar'}:{cache}", "Fill", str(form), str(out)]
    cmd += ["--seed", str(case.seed), "--media-dir", str(media)]
    cmd += ["--deviceid", DEVICE_ID, "--username", USERNAME]
    if case.answers:
        answers = out.parent / f"{case.name}.answers.json"
        answers.write_text(json.dumps(case.answers, ensure_ascii=False), encoding="utf-8")
        cmd += ["--answers", str(answers)]
    if source is not None:
        cmd += ["--edit", str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"Fill failed for {form.stem}/{case.name} (exit {done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads((out / "fill-result.json").read_text(encoding="utf-8"))
    return result


def store(out: Path, target: Path, work: Path, form_id: str) -> list[tuple[str, int]]:
    """Copy the visible files of one run (not ``.collect/`` or ``.plaintext/``)."""
    target.mkdir(parents=True)
    files = []
    for path in sorted(out.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.name == "fill-result.json":
            data = relativise(json.loads(path.read_text(encoding="utf-8")), work, form_id)
            text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
            (target / path.name).write_text(text, encoding="utf-8")
        else:
            if path.name != "submission.xml" and path.stat().st_size > MAX_ATTACHMENT_BYTES:
                raise SystemExit(f"{path} is larger than {MAX_ATTACHMENT_BYTES} bytes")
            shutil.copyfile(path, target / path.name)
        files.append((path.name, (target / path.name).stat().st_size))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", type=Path, default=DEFAULT_EMULATOR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--forms", type=Path, default=REPO / "forms")
    args = parser.parse_args(argv)

    cache = setup_emulator(args.emulator.resolve())
    out_root: Path = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="javarosa-subs-") as tmp:
        work = Path(tmp)
        media = work / "caselists"
        write_case_lists(media)
        staged = work / "stage"
        staged.mkdir()
        shutil.copytree(media, staged / "caselists")
        for xlsx in sorted(args.forms.glob("*.xlsx")):
            compiled = compile_xlsform(xlsx.read_bytes(), filename=xlsx.name)
            form_id = parse_xform(compiled.xform).form_id
            form = work / "forms" / f"{form_id}.xml"
            form.parent.mkdir(parents=True, exist_ok=True)
            form.write_text(compiled.xform, encoding="utf-8")
            (staged / form_id).mkdir()
            shutil.copyfile(form, staged / form_id / "form.xml")
            for case in cases_for(form_id):
                out = work / "runs" / form_id / case.name
                source = None
                if case.edit_of is not None:
                    source = work / "runs" / form_id / case.edit_of / "submission.xml"
                result = run_fill(cache, form, media, out, case, source)
                files = store(out, staged / form_id / case.name, work, form_id)
                sizes = ", ".join(f"{name} {size} B" for name, size in files)
                print(f"{form_id}/{case.name}: {result.get('instanceID')} ({sizes})")
        if out_root.exists():
            shutil.rmtree(out_root)
        out_root.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, out_root)
        readme = out_root / "README.md"
        readme.write_text(README, encoding="utf-8")
    print(f"written to {out_root}")
    return 0


README = """\
# JavaRosa-filled submissions of the programme forms

Generated by `scripts/make_javarosa_submissions.py`; do not edit by hand, run the script again
(it needs Java 17 and the Collect emulator in `../shared/tools/collect-emulator`).

* `caselists/*.csv`: the case lists the follow-up forms were filled against (fixed UUIDs).
* `<form_id>/form.xml`: the XForm compiled from `forms/<name>.xlsx`.
* `<form_id>/<case>/submission.xml`: what Collect's form engine (JavaRosa) serialised, with the
  attachment files it named and `fill-result.json` (Fill's log: answers given, attachments).
  Cases: `seed1`..`seed3` (random answers), extra cases with fixed answers (`children3`,
  `no_consent`, `met`, `enrolled`, `adult`, `child`), and `edit_seed1` (an edit of `seed1`: `meta/deprecatedID` is set).
"""


if __name__ == "__main__":
    raise SystemExit(main())
