"""Every command and code example of the documentation runs, so that none can go stale (tests/docs.py says
what an example is). Each page runs in a fresh folder of its own, in the order of the page, as a reader
would type it: the project's folders are linked in, and the reference journals copied."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs import README, ROOT, Example, examples, page_name, pages
from tests.helpers import user_environ

#: Commands that run elsewhere, each with the file that runs it and what that file must hold. A test of its
#: own checks more than an exit status (advise's answer, a cluster's nodes), or the command is the test run
#: itself, or it needs a machine set up as only the test command sets it up (root, a Ray cluster).
ELSEWHERE: list[tuple[str, str, tuple[str, ...]]] = [
    # (a pattern of the command, the file that runs it, strings that file holds)
    (r"^\./bootstrap nox -s lint typecheck docs tests\b", ".ci/run", ("./bootstrap nox -s lint typecheck docs tests",)),
    # the test session, within the tests, would be the tests' own recursion
    (r"^\./bootstrap nox -s tests -- -m fast\b", "pyproject.toml", ('"fast: ',)),
    (r"^(sudo )?scripts/local-slurm\.sh (start|status|stop)\b", "noxfile.py", ('"start"', '"stop"', '"status"')),
    (r"^export RAY_AUTH_MODE=token", "tests/test_joblib_ray.py", ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")),
    (r"^(srun .*)?ray start ", "tests/test_joblib_ray.py", ('"start"', '"--head"', "--address")),
    (r"--executor-option address=", "tests/test_joblib_ray.py", ("address=",)),
    (r"^python -m bench slurm submit ", "tests/test_slurm.py", ('"submit"', '"--wait"')),
    (r"^python -m bench advise examples/uneven\.py:Uneven$", "tests/test_advise.py", ("docs/advise.md",)),
    # a probe of 20 s: 2 s there
    (r"^python -m bench doctor$", "tests/test_noise.py", ('"doctor"', "docs/measuring.md")),
]

#: Python examples that a test of their own runs and checks further.
PYTHON_ELSEWHERE = {
    ("docs/getting-started.md", "bench.Matrix("): ("tests/test_api.py", "docs/getting-started.md"),
}

SWEEP = re.compile(r"(^|\s)(bench/run\.py|-m bench run|nox -s bench)(\s|$)")
EXIT_STATUS = re.compile(r"#.*\bexit status (\d+)")
LINKED = (
    "bench",
    "workloads",
    "examples",
    "scripts",
    "benchmarks",
    "venv",
    "bootstrap",
    "noxfile.py",
    "pyproject.toml",
)


def elsewhere(found: Example) -> tuple[str, tuple[str, ...]] | None:
    """Where an example runs instead, and what that file holds, if it runs elsewhere."""
    if found.kind == "command":
        for pattern, where, evidence in ELSEWHERE:
            if re.search(pattern, found.text):
                return where, evidence
    elif found.kind == "python":
        for (page, key), (where, evidence) in PYTHON_ELSEWHERE.items():
            if found.page == page and key in found.text:
                return where, (evidence,)
    return None


def as_run(command: Example) -> str:
    """The command line the test runs: a sweep that keeps no journal for a later command (no ``--out``)
    is planned, not measured (``--dry-run``: its options parsed and its cells built by the code that runs
    them)."""
    text = command.text.split(" #")[0].rstrip()
    if not SWEEP.search(text) or "--out" in text or "--dry-run" in text:
        return text
    if "nox -s bench" in text:
        return text + (" --dry-run" if " -- " in text else " -- --dry-run")
    return text + " --dry-run"


def page_folder(tmp_path: Path) -> Path:
    """A reader's folder: the project linked in, the reference journals under results/ (a copy: nothing
    a page runs can touch the repository's)."""
    folder = tmp_path / "reader"
    folder.mkdir()
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "results" / "reference", folder / "results" / "reference")
    return folder


def environment() -> dict[str, str]:
    venv_bin = str(ROOT / "venv" / "bin")
    path = os.environ.get("PATH", "")
    return {
        **user_environ(),
        "PATH": os.pathsep.join([venv_bin, str(Path(sys.executable).parent), path]),
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
    }


def run_page(page: Path, folder: Path) -> list[str]:
    """Run the page's examples in order; the failures, one line each."""
    failures = []
    env = environment()
    for number, found in enumerate(examples(page)):
        if found.kind == "file":
            (folder / str(found.caption)).write_text(found.text)
            continue
        if elsewhere(found):
            continue
        if found.kind == "python":
            script = folder / f"example_{number}.py"
            script.write_text(found.text)
            argv = [sys.executable, script.name]
            expected = 0
        else:
            argv = ["bash", "-c", as_run(found)]
            status = EXIT_STATUS.search(found.text)
            expected = int(status.group(1)) if status else 0
        try:
            done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=420)
        except subprocess.TimeoutExpired:
            failures.append(f"{found}: still running after 420 s")
            continue
        if done.returncode != expected:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            failures.append(f"{found}: exit {done.returncode}, not {expected}: {' | '.join(said)}")
    return failures


def installed_from() -> Path:
    """The folder the project's venv imports ``bench`` from, seen from outside the project."""
    python = ROOT / "venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", "import bench; print(bench.__file__)"], cwd="/", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip()).parent.parent


@pytest.fixture(scope="module")
def current_venv():
    """The project's venv, brought up to date before any page runs ``./bootstrap``: a page's folder links
    venv/ in, so a bootstrap there that found pyproject.toml changed would install the project from that
    folder, which goes with the test."""
    done = subprocess.run(["bash", str(ROOT / "bootstrap"), "true"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert installed_from() == ROOT


@pytest.mark.slow
@pytest.mark.parametrize("page", [page for page in pages() if examples(page)], ids=page_name)
def test_every_example_of_the_page_runs(page, tmp_path, current_venv):
    failures = run_page(page, page_folder(tmp_path))
    assert not failures, "\n".join(failures)
    assert installed_from() == ROOT, "a page's example installed the project from its own folder"


def test_every_command_run_elsewhere_is_run_there():
    """What the pages leave to other tests, those tests (or the test command) do."""
    checked = 0
    for page in pages():
        for found in examples(page):
            where = elsewhere(found)
            if where is None:
                continue
            text = (ROOT / where[0]).read_text()
            missing = [piece for piece in where[1] if piece not in text]
            assert not missing, f"{found}: {where[0]} does not hold {missing}"
            checked += 1
    assert checked


def test_the_pages_have_examples_of_every_kind_and_sweeps_are_planned():
    found = [e for page in pages() for e in examples(page)]
    kinds = {e.kind for e in found}
    assert kinds == {"command", "python", "file"}
    commands = [e for e in found if e.kind == "command"]
    assert len(commands) > 30
    seed = next(e for e in commands if "--preset seed" in e.text and e.text.startswith("mpiexec -n 5"))
    assert as_run(seed).endswith("--dry-run")
    kept = next(e for e in commands if "--out mine" in e.text)
    assert "--dry-run" not in as_run(kept)  # its journal is the next command's input: it runs
    nox = Example("x", "command", "./bootstrap nox -s bench -- --preset seed", 1)
    assert as_run(nox) == "./bootstrap nox -s bench -- --preset seed --dry-run"


def test_a_failing_example_is_reported_with_its_page_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n```console\n$ python -m bench list --no-such-option\n```\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    [failure] = run_page(page, folder)
    assert failure.startswith("docs/page.md:4: python -m bench list --no-such-option: exit 2, not 0")


@functools.cache
def reference_figures():
    """The figures of docs/_ext/reference_figures.py, which computes them when the site is built (read once
    for the tests that check them)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_figures", ROOT / "docs" / "_ext" / "reference_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.figures()


def test_the_readme_quotes_the_reference_figures_as_the_site_computes_them():
    """GitHub shows the README as it is, so its figures are typed in: they must be the site's."""
    text = " ".join(README.read_text().split())
    figures = reference_figures()
    for key in ("quick_duration", "quick_date", "quick_answer", "fib5000_serial"):
        assert figures[key] in text, f"the README does not quote {key}: {figures[key]}"
    assert "{{" not in text
    assert len(README.read_text().splitlines()) <= 200


def test_every_substitution_a_page_uses_is_computed():
    figures = reference_figures()
    quoted = 0
    for page in sorted((ROOT / "docs").glob("*.md")):
        for name in re.findall(r"\{\{ *(\w+) *\}\}", page.read_text()):
            assert name in figures, f"{page.name} quotes {{{{ {name} }}}}, which docs/_ext/reference_figures.py lacks"
            quoted += 1
    assert quoted
