"""Writing files safely: :func:`atomic_write` (a crash never leaves a half-written file).

Checkpoints (``train``), corpus caches (``corpora``), listening-test answers (``rating``) and
results files (``results``) are all written through it; notebook 10 names it (``ml.atomic_write``).
"""
import os
import tempfile

__all__ = ["atomic_write"]


def atomic_write(path, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` via a temporary file and ``os.replace``,
    so a crash never leaves a half-written file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    mode = "w" if isinstance(data, str) else "wb"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual rights
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
