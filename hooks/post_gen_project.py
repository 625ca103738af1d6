"""Copy the template root into the new project, renamed (logic: hooks/scaffold_lib.py)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
CONTEXT = json.loads(r"""{{ cookiecutter | jsonify }}""")
REPO_DIR = CONTEXT.get("_repo_dir") or ""
if REPO_DIR and not Path(REPO_DIR).is_absolute():
    # A relative template path is relative to where cookiecutter started (its cwd now), not to our cwd.
    CANDIDATES = [Path(f"/proc/{os.getppid()}/cwd"), Path(os.environ.get("PWD", "/nonexistent"))]
    FOUND = [c / REPO_DIR for c in CANDIDATES if (c / REPO_DIR / "hooks" / "scaffold_lib.py").is_file()]
    if not FOUND:
        sys.exit(f"error: cannot locate the template {REPO_DIR!r}: give an absolute path or a git URL")
    REPO_DIR = str(FOUND[0].resolve())
# cookiecutter sets _repo_dir; cruft does not, so fetch its _template at its _commit.
ROOT = Path(REPO_DIR or tempfile.mkdtemp(prefix="template-"))
try:
    if not REPO_DIR:
        subprocess.run(["git", "clone", "--quiet", CONTEXT["_template"], str(ROOT)], check=True)
        subprocess.run(["git", "checkout", "--quiet", CONTEXT["_commit"]], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT / "hooks"))
    import scaffold_lib

    status = scaffold_lib.hook_main("post", CONTEXT, ROOT)
finally:
    if not REPO_DIR:
        shutil.rmtree(ROOT, ignore_errors=True)
sys.exit(status)
