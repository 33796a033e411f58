"""Exercises a class can use (issue 26), made and graded with otter-grader.

Each lesson NN has a master notebook ``notebooks/exercises/NN_*.ipynb`` in otter's format: a
question is a raw ``# BEGIN QUESTION`` cell, its task (a heading ``### Exercise k: title (kind)``),
starter code with the solution between ``# BEGIN SOLUTION`` and ``# END SOLUTION``, and tests
(public ones the learner runs with ``grader.check("qk")``, hidden ones marked ``hidden: true``).
A "listen and judge" question is ``manual: true``: answered in words, graded by hand. Projects that
need a GPU or full mode are plain markdown, not graded.

- ``assign``: ``otter assign`` on each master gives the student notebook (no solutions, no hidden
  tests) and the autograder (a zip with every test) plus a solutions notebook.
- ``grade``: ``otter.api.grade_submission`` on every submitted notebook of a folder, without Docker
  (``otter grade`` needs Docker: "Grade submissions in PATHS locally using Docker containers"), into
  one CSV of scores, a row per submission and question, written atomically.

``python -m musiclab.exercises assign`` / ``grade SUBMISSIONS`` / ``list``; README "For teachers".
tests/test_exercises.py grades every master's solutions (100%) and its blank student notebook (0).
"""
import argparse
import csv
import io
import json
import re
import shutil
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

from ..files import atomic_write
from .bench import execute_notebook, find_notebooks

ROOT = Path(__file__).resolve().parents[2]
MASTERS = ROOT / "notebooks" / "exercises"
BUILD = ROOT / "build" / "exercises"
KINDS = ("derive and check", "implement", "experiment", "listen and judge")
HEADING = re.compile(r"^### Exercise (\d+): (.*) \((" + "|".join(KINDS) + r")\)\s*$", re.MULTILINE)
BUDGET_S = 60

__all__ = ["find_masters", "questions", "assign", "grade", "assignment_of", "grade_folder", "exercise_seconds", "main"]


def find_masters(names=None, folder=MASTERS) -> list:
    """The master notebooks ``NN_*.ipynb`` in ``folder``, all or those ``names`` picks by number or
    stem (``find_notebooks``; ValueError for a name that picks none)."""
    return find_notebooks(folder, names)


def questions(master) -> list:
    """[{"name", "number", "title", "kind", "manual", "points"}] of a master notebook, in order,
    from its ``# BEGIN QUESTION`` cells and the ``### Exercise`` heading that follows each."""
    import nbformat
    import yaml
    cells = nbformat.read(master, as_version=4).cells
    found = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(cell.source.split("\n", 1)[1]) or {}
            prompt = next((c.source for c in cells[i + 1:] if c.cell_type == "markdown"), "")
            heading = HEADING.search(prompt)
            if heading is None:
                raise ValueError(f"{Path(master).name}: question {config.get('name')} has no heading "
                                 f"'### Exercise k: title (kind)' with a kind among {KINDS}")
            found.append({"name": config["name"], "number": int(heading[1]), "title": heading[2], "kind": heading[3],
                          "manual": bool(config.get("manual")), "points": config.get("points", 1)})
    return found


def assign(names=None, out=BUILD, folder=MASTERS) -> dict:
    """``otter assign`` every master into ``out``: ``student/NN_*.ipynb`` (for the class),
    ``autograder/NN_*.zip`` (every test) and ``solutions/NN_*.ipynb`` (for the teacher). Returns
    {stem: (student notebook, autograder zip, solutions notebook)}."""
    from otter.assign import main as otter_assign

    out = Path(out)
    made = {}
    for master in find_masters(names, folder):
        with tempfile.TemporaryDirectory() as tmp, redirect_stdout(io.StringIO()) as printed:
            try:
                otter_assign(str(master), tmp, no_run_tests=True)   # the solutions are graded by tests/test_exercises.py
            except Exception as err:
                raise RuntimeError(f"otter assign failed on {master.name}: {err}\n{printed.getvalue()[-2000:]}") from err
            tmp = Path(tmp)
            paths = (out / "student" / master.name, out / "autograder" / f"{master.stem}.zip",
                     out / "solutions" / master.name)
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / "student" / master.name, paths[0])
            shutil.copy(next((tmp / "autograder").glob("*.zip")), paths[1])
            shutil.copy(tmp / "autograder" / master.name, paths[2])
        made[master.stem] = paths
    return made


def grade(submission, autograder, debug: bool = False) -> dict:
    """Grade one submitted notebook with its autograder zip (``otter.api.grade_submission``, no
    Docker): {"score", "possible", "questions": {name: (score, possible)}, "output": what the tests
    printed}. ``debug=True`` stops at the first cell that raises (a notebook must run unchanged)."""
    from otter.api import grade_submission
    printed = io.StringIO()
    with redirect_stdout(printed):
        results = grade_submission(str(submission), str(autograder), quiet=False, debug=debug)
    per_question = {name: (r.score, r.possible) for name, r in results.results.items()}
    if results.has_catastrophic_failure():
        raise RuntimeError(f"grading {Path(submission).name} failed: {results.catastrophic_error}")
    return {"score": results.total, "possible": results.possible, "questions": per_question,
            "output": results.summary(), "public": results.summary(public_only=True), "printed": printed.getvalue()}


def assignment_of(submission, zips: dict):
    """The autograder zip of a submitted notebook: by the assignment name otter wrote into it
    (``metadata.otter.assignment_name``, which survives renaming), else by the file name's first two
    digits (``04_ada.ipynb``); None when neither matches."""
    try:
        name = json.loads(Path(submission).read_text(encoding="utf-8"))["metadata"]["otter"]["assignment_name"]
    except (ValueError, KeyError, TypeError, OSError):
        name = None
    number = re.match(r"\d\d", Path(submission).name)
    return zips.get(name[:2] if name else None) or zips.get(number[0] if number else None)


def grade_folder(folder, autograders=BUILD / "autograder", out_csv=None) -> list:
    """Grade every notebook in ``folder`` with the autograder of its assignment (``assignment_of``)
    and write one CSV (default ``folder/grades.csv``): submission, assignment, question, score,
    possible, note; a "total" row per submission. A submission that cannot be graded (no matching
    autograder, a notebook that does not load, a grading error) gets one "error" row saying why, and
    the others are still graded. Returns the rows."""
    rows = []
    zips = {p.stem[:2]: p for p in Path(autograders).glob("[0-9][0-9]_*.zip")}
    for submission in sorted(Path(folder).glob("*.ipynb")):
        autograder = assignment_of(submission, zips)
        if autograder is None:
            rows.append([submission.name, "", "error", 0, 0, f"no autograder in {autograders} for it"])
            continue
        try:
            result = grade(submission, autograder)
        except Exception as err:                       # one broken notebook must not stop the class's grading
            rows.append([submission.name, autograder.stem, "error", 0, 0, f"{type(err).__name__}: {err}"[:300]])
            continue
        for name, (score, possible) in result["questions"].items():
            rows.append([submission.name, autograder.stem, name, score, possible, ""])
        rows.append([submission.name, autograder.stem, "total", result["score"], result["possible"], ""])
    text = io.StringIO()
    csv.writer(text).writerows([["submission", "assignment", "question", "score", "possible", "note"], *rows])
    atomic_write(out_csv or Path(folder) / "grades.csv", text.getvalue())
    return rows


def exercise_seconds(notebook, timeout: int = 600) -> dict:
    """Execute ``notebook`` (a solutions notebook) with nbclient in its folder and return the seconds
    its code cells took per exercise, {k: seconds} (cells after the heading ``### Exercise k``, up to
    the next heading), and {"setup": seconds} for the cells before the first exercise."""
    import datetime

    nb = execute_notebook(notebook, timeout)[0]
    stamp = lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    seconds, current = {"setup": 0.0}, "setup"
    for cell in nb.cells:
        heading = HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if heading:
            current = int(heading[1])
            seconds.setdefault(current, 0.0)
        elif cell.cell_type == "code":
            times = cell.metadata.get("execution", {})
            start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
            if start and end:
                seconds[current] += (stamp(end) - stamp(start)).total_seconds()
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m musiclab.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("assign", help="student notebooks, autograders and solutions from the masters")
    a.add_argument("--notebooks", nargs="*", help="which lessons (e.g. 00 09); default all")
    a.add_argument("--out", default=str(BUILD))
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    g.add_argument("submissions", help="a folder of submitted notebooks (NN_*.ipynb)")
    g.add_argument("--autograders", default=str(BUILD / "autograder"))
    g.add_argument("--csv", default=None, help="where to write the scores (default SUBMISSIONS/grades.csv)")
    sub.add_parser("list", help="the exercises of every master, with their kinds")
    args = parser.parse_args(argv)
    if args.command == "assign":
        for stem, (student, autograder, solutions) in assign(args.notebooks, args.out).items():
            print(f"{stem}: {student}, {autograder}, {solutions}")
    elif args.command == "grade":
        rows = grade_folder(args.submissions, args.autograders, args.csv)
        for row in rows:
            if row[2] == "total":
                print(f"{row[0]}: {row[3]:g} / {row[4]:g}")
            elif row[2] == "error":
                print(f"{row[0]}: not graded ({row[5]})")
        print(f"scores written to {args.csv or Path(args.submissions) / 'grades.csv'}")
    else:
        for master in find_masters():
            for q in questions(master):
                graded = "by hand" if q["manual"] else "autograded"
                print(f"{master.stem} exercise {q['number']}: {q['title']} ({q['kind']}, {graded})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
