"""The install paths agree: environment.yml installs what pyproject.toml declares, for the same Python."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_installs_the_package_with_its_dev_extra_for_the_same_python():
    env = (ROOT / "environment.yml").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")   # (tomllib needs Python 3.11)
    assert '-e ".[dev]"' in env                      # the README's install, so the two never drift
    assert re.search(r"^dev = \[", pyproject, re.MULTILINE)
    python = re.search(r"^\s*-\s*python\s*(>=\s*[\d.]+)", env, re.MULTILINE)
    requires = re.search(r'^requires-python = "(.+)"', pyproject, re.MULTILINE)
    assert python and requires and python[1].replace(" ", "") == requires[1]


def test_ci_runs_the_readme_commands_in_a_fresh_virtual_environment():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 -m venv" in ci and '/bin/activate"' in ci
    assert 'python -m pip install -e ".[dev]"' in readme and 'python -m pip install -q -e ".[dev]"' in ci
    assert re.search(r"^pytest\s", ci, re.MULTILINE) and re.search(r"^pytest\s", readme, re.MULTILINE)
