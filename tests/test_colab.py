"""Every notebook's Colab badge and install cell use pyproject's one repository URL."""
import json

import pytest

from musiclab.course import colab

NOTEBOOKS = sorted((colab.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_pyproject_declares_one_github_repository():
    url = colab.repository_url()
    assert colab.github_path(url).count("/") == 1
    with pytest.raises(ValueError, match="GitHub"):
        colab.github_path("https://example.org/course")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_and_install_cell_agree_with_pyproject(path):
    url = colab.repository_url()
    nb = json.loads(path.read_text(encoding="utf-8"))
    title = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    assert colab.badge(url, path.name) in colab.source(title)
    install = [colab.source(c) for c in nb["cells"] if colab.INSTALL_MARK in colab.source(c)]
    assert install == [colab.install_cell(url, path.name)]
    assert "torch" not in install[0]                      # Colab's own torch is kept
    if path.name[:2] in colab.TRAINING_NOTEBOOKS:
        assert nb["metadata"].get("accelerator") == "GPU"


def test_rewrite_follows_a_new_url(tmp_path):
    copy = tmp_path / NOTEBOOKS[0].name
    copy.write_text(NOTEBOOKS[0].read_text(encoding="utf-8"), encoding="utf-8")
    url = "https://github.com/someone/elsewhere"
    assert colab.rewrite(copy, url)
    text = copy.read_text(encoding="utf-8")
    assert "someone/elsewhere/blob/main/notebooks/" in text and "someone/elsewhere.git" in text
    assert not colab.rewrite(copy, url)                   # a second run changes nothing
