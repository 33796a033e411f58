"""The exercises (``python -m musiclab.exercises``, otter-grader), graded as a teacher grades them:

- every lesson 00-11 has a master with at least three autograded exercises of more than one kind,
  and the lesson's "Exercises" section lists exactly the master's exercises;
- a master's solutions score 100% under its autograder (hidden tests included);
- its student notebook, run unchanged, raises in no cell and scores 0, and every public check says
  what is wrong (an assertion message, not a TypeError from the starter code);
- no solution text and no hidden test appears in a student notebook;
- every exercise runs within its budget (60 s);
- grading a folder of submissions writes one CSV of scores.

Within ``pytest`` it grades the masters of 00 and 09; ``MUSICLAB_EXERCISES=all`` grades every master
(CI does, after the README's test command).
"""
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from musiclab.course import exercises

REPO = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MASTERS = exercises.find_masters()
QUICK = ["00", "09"]
GRADED = [m for m in MASTERS if os.environ.get("MUSICLAB_EXERCISES") == "all" or m.name[:2] in QUICK]
MAKES_SOUND = {"00", "02", "04", "05", "07", "08", "10", "11"}


def autograded(master) -> list:
    return [q for q in exercises.questions(master) if not q["manual"]]


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    """{master stem: (student, autograder zip, solutions)} for the masters graded here."""
    return exercises.assign([m.name[:2] for m in GRADED], tmp_path_factory.mktemp("exercises"))


@pytest.fixture(scope="module")
def grades(assigned):
    """{master stem: (grade of the solutions, grade of the blank student notebook)}, graded once."""
    return {stem: (exercises.grade(solutions, zip_), exercises.grade(student, zip_, debug=True))
            for stem, (student, zip_, solutions) in assigned.items()}


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name[:2])
def test_every_lesson_has_exercises_of_several_kinds_and_lists_them(lesson):
    masters = [m for m in MASTERS if m.name[:2] == lesson.name[:2]]
    assert len(masters) == 1, f"no master exercise notebook for {lesson.name} in notebooks/exercises"
    found = exercises.questions(masters[0])
    assert [q["number"] for q in found] == list(range(1, len(found) + 1))
    assert len(autograded(masters[0])) >= 3
    assert len({q["kind"] for q in found}) >= 2
    if lesson.name[:2] in MAKES_SOUND:
        assert any(q["kind"] == "listen and judge" and q["manual"] for q in found)
    last = nbformat.read(lesson, as_version=4).cells[-1].source
    listed = re.findall(r"^\d+\. \*\*(.*?)\*\* \((.*?)\)", last[last.index("## Exercises"):], re.MULTILINE)
    assert listed == [(q["title"], q["kind"] + (", graded by hand" if q["manual"] else "")) for q in found]


@pytest.mark.parametrize("master", GRADED, ids=lambda p: p.name[:2])
def test_solutions_score_full_marks_and_the_blank_notebook_zero(master, grades):
    good, blank = grades[master.stem]
    assert good["possible"] >= 3 and good["score"] == good["possible"], good["output"]
    assert blank["score"] == 0, blank["output"]
    public = blank["public"]
    for q in autograded(master):
        result = public[public.index(f"{q['name']} results:"):].split("\n\n")[0]
        assert "Test case failed" in result and "AssertionError: " in result, result
        assert not re.search(r"(Type|Name|Attribute|Index|Value)Error", result), result


@pytest.mark.parametrize("master", GRADED, ids=lambda p: p.name[:2])
def test_student_notebooks_hold_no_solution_and_no_hidden_test(master, assigned):
    student = assigned[master.stem][0].read_text(encoding="utf-8")
    secret = []
    for cell in nbformat.read(master, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            inside = inside and "# END SOLUTION" not in line
            text = line.split("# SOLUTION")[0].strip() if line.rstrip().endswith("# SOLUTION") else line.strip()
            if (inside or line.rstrip().endswith("# SOLUTION")) and len(text) > 12:
                secret.append(text)
            if "hidden: true" in cell.source and line.startswith("def test_"):
                secret.append(line.strip())
            inside = inside or "# BEGIN SOLUTION" in line
    assert secret
    leaked = [s for s in secret if json.dumps(s)[1:-1] in student]
    assert not leaked, leaked


@pytest.mark.parametrize("master", GRADED, ids=lambda p: p.name[:2])
def test_every_exercise_runs_within_its_budget(master, assigned):
    seconds = exercises.exercise_seconds(assigned[master.stem][2])
    print(master.stem, {k: round(v, 1) for k, v in seconds.items()})
    assert set(seconds) - {"setup"} == {q["number"] for q in exercises.questions(master)}
    slow = {k: v for k, v in seconds.items() if v > exercises.BUDGET_S}
    assert not slow, f"over {exercises.BUDGET_S} s: {slow}"


def test_grading_a_folder_writes_one_csv_of_scores(assigned, tmp_path):
    stem, (student, zip_, solutions) = next(iter(assigned.items()))
    shutil.copy(solutions, tmp_path / f"{stem[:2]}_ada.ipynb")
    shutil.copy(student, tmp_path / "bob renamed by the class website.ipynb")     # found by its metadata
    (tmp_path / "carol.ipynb").write_text("not a notebook")
    rows = exercises.grade_folder(tmp_path, zip_.parent, tmp_path / "grades.csv")
    totals = {r[0]: (r[3], r[4]) for r in rows if r[2] == "total"}
    assert totals[f"{stem[:2]}_ada.ipynb"][0] == totals[f"{stem[:2]}_ada.ipynb"][1] > 0
    assert totals["bob renamed by the class website.ipynb"][0] == 0
    assert [r[2] for r in rows if r[0] == "carol.ipynb"] == ["error"]
    lines = (tmp_path / "grades.csv").read_text().splitlines()
    assert lines[0] == "submission,assignment,question,score,possible,note" and len(lines) == len(rows) + 1
