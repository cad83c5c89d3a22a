"""Reports: the analysis on journals with known answers, merging, escaping, bad input, and the page in a browser."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import bench
import bench.report
from bench.analysis import findings as analysis
from conftest import unavailable
from tests.journals import RNG_SEED, cell, write_journal


def scaling_cells(rng):
    """process-pool scales well at chunk 16; chunk 1 pays per-task overhead; thread-pool does not scale."""
    cells = [cell("serial", 1, 1.0, chunk="n/a", rng=rng)]
    for workers in (1, 2, 4):
        cells.append(cell("process-pool", workers, 0.97 * workers * (1 - 0.05 * (workers - 1)), rng=rng))
        cells.append(cell("process-pool", workers, 0.7 * workers, chunk="1", rng=rng))
        cells.append(cell("thread-pool", workers, 1.0, rng=rng))
    cells.append(cell("mpi-pool", 4, 0.97 * 4 * 0.85, spread=0.03, rng=rng))  # as fast, noisier: a tie
    return cells


@pytest.fixture
def scaling_journal(tmp_path):
    return write_journal(tmp_path / "scaling.jsonl", scaling_cells(np.random.default_rng(RNG_SEED)))


def test_the_best_configuration_its_ties_and_the_cost_of_a_small_chunk(scaling_journal):
    found = analysis.analyse(bench.load(scaling_journal))
    (case,) = found.cases
    assert case.label == "fibprimes[2000]"
    assert case.best.config() == "process-pool x4, chunk 16"  # the higher lower bound of the two
    assert [p.config() for p, _ in case.runners_up] == ["mpi-pool x4, chunk 16"]  # the same speed: no winner
    assert all(p > 0.05 for _, p in case.runners_up)
    assert case.best.speedup.value == pytest.approx(3.3, rel=0.03)
    assert [p.workers for p in case.by_workers] == [1, 2, 4]
    text = " ".join(case.recommendations)
    assert "use process-pool x4, chunk 16: 3.3" in text
    assert re.search(r"chunk size 1 loses 1[4-7]%, most likely to per-task overhead", text)  # 0.7 x 4 = 2.8 against 3.3
    assert "thread-pool 1.00x" in text  # at 4 workers, significantly behind
    assert any("not significantly slower than the best" in note for note in case.notes)


def test_speedup_over_one_worker_and_the_serial_fraction(scaling_journal):
    (case,) = analysis.analyse(bench.load(scaling_journal)).cases
    four = next(p for p in case.points if p.config() == "process-pool x4, chunk 16")
    assert four.self_speedup.value == pytest.approx(3.3 / 0.97, rel=0.03)
    assert four.self_speedup.low <= four.self_speedup.value <= four.self_speedup.high
    assert four.self_speedup.confidence == pytest.approx((1 - 2 / 64) ** 2)
    # Karp-Flatt of S = 3.3 on 4 workers: (1/3.3 - 1/4) / (3/4) = 0.0707
    assert four.serial_fraction.value == pytest.approx((1 / four.speedup.value - 0.25) / 0.75)
    two = next(p for p in case.points if p.config() == "process-pool x2, chunk 16")
    assert two.serial_fraction.value == pytest.approx(1 / two.speedup.value * 2 - 1)  # (1/S - 1/2) / (1/2)
    assert two.serial_fraction.low <= two.serial_fraction.value <= two.serial_fraction.high
    assert case.by_workers[0].serial_fraction is None  # one worker: no fraction to speak of


def test_too_few_rounds_and_a_slower_than_serial_best_are_said(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = [cell("serial", 1, 1.0, chunk="n/a", rounds=3, rng=rng), cell("dask-local", 2, 0.5, rounds=3, rng=rng)]
    (case,) = analysis.analyse(bench.load(write_journal(tmp_path / "j.jsonl", cells))).cases
    assert "nothing measured beats the serial loop" in case.recommendations[0]
    assert any("covers only 75%" in note for note in case.notes)


def test_where_nothing_beats_serial_the_cost_of_a_small_chunk_is_still_said(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = [
        cell("serial", 1, 1.0, chunk="n/a", rounds=8, rng=rng),
        cell("process-pool", 2, 0.8, chunk="16", rounds=8, rng=rng),
        cell("process-pool", 2, 0.3, chunk="1", rounds=8, rng=rng),
    ]
    (case,) = analysis.analyse(bench.load(write_journal(tmp_path / "j.jsonl", cells))).cases
    first, chunk = case.recommendations[:2]
    assert "nothing measured beats the serial loop" in first and "give each task more work" in first
    assert chunk.startswith("With process-pool x2, chunk size 1 loses 6")  # 1 - 0.3 / 0.8: 62%


def test_map_methods_that_do_not_differ_are_said_not_to(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = [cell("serial", 1, 1.0, chunk="n/a", workload="fibprimes-first", size=22, rng=rng)]
    for method in ("imap", "imap_unordered"):
        cells.append(cell("process-pool", 2, 1.8, workload="fibprimes-first", size=22, method=method, rng=rng))
    report = bench.report.build(bench.load(write_journal(tmp_path / "m.jsonl", cells)))
    (case,) = report.analysis.cases
    assert any("make no significant difference in any of 1" in note for note in case.notes)
    assert any(figure.name.endswith("-methods") for figure in report.figures)


def threads_journal(path, workload, effect):
    """Cells under threads auto and default: ``effect`` divides the default cells' speedups."""
    rng = np.random.default_rng(RNG_SEED)
    cells = [cell("serial", 1, 1.0, chunk="n/a", workload=workload, rounds=8, rng=rng)]
    for executor, speedup in (("process-pool", 1.8), ("dask-local", 1.6)):
        for chunk in ("1", "16"):
            for spec, threads, factor in (("auto", 1, 1.0), ("default", 2, effect)):
                found = cell(executor, 2, speedup / factor, workload=workload, chunk=chunk, rounds=8, rng=rng)
                cells.append({**found, "threads": spec, "threads_per_worker": threads, "baseline_threads": 2})
    # under default Dask keeps its own 1 thread, and happens to run fastest: never the recommendation
    cells.append({**cell("dask-local", 2, 1.95, workload=workload, chunk="4", rounds=8, rng=rng),
                  "threads": "default", "threads_per_worker": 1, "baseline_threads": 2})  # fmt: skip
    return write_journal(path, cells)


def test_the_threads_that_matter_are_said_and_a_default_is_never_recommended(tmp_path):
    (linalg,) = analysis.analyse(bench.load(threads_journal(tmp_path / "l.jsonl", "linalg", effect=3.0))).cases
    assert linalg.best.record.threads == "auto" and linalg.best.executor == "process-pool"
    text = " ".join(linalg.recommendations)
    assert "use process-pool x2, chunk 16, 1 thread:" in text or "use process-pool x2, chunk 1, 1 thread:" in text
    assert "Inner threads matter for linalg[2000] (4 of 4 comparisons differ significantly" in text
    assert re.search(r"with 1 thread each and at 0\.[56]\dx with 2 threads \(default\), 6\d% slower", text)
    assert "beats one process whose libraries may use all 2 cores (the serial baseline): map in parallel" in text
    assert any("workers x inner threads exceed the 2 cores" in note for note in linalg.notes)
    (fib,) = analysis.analyse(bench.load(threads_journal(tmp_path / "f.jsonl", "fibprimes", effect=1.0))).cases
    assert "Inner threads make no significant difference for fibprimes[2000] in any of 4 comparisons" in " ".join(
        fib.recommendations
    )


def probe_journal(path, run_id=None, env=None):
    """noop at three task counts, payload at four sizes, spin at five durations, on two executors."""
    rng = np.random.default_rng(RNG_SEED)
    cells = []
    per_task = {"process-pool": 100e-6, "dask-local": 2e-3}
    seconds_per_byte = {"process-pool": 1 / 500e6, "dask-local": 1 / 200e6}
    for executor, cost in per_task.items():
        for chunk in (1, 10, 100):
            tasks = 1000 // chunk
            run = 0.002 + cost * tasks
            times = run * (1 + rng.uniform(-0.01, 0.01, 6))
            cells.append({**cell(executor, 4, 1.0, workload="noop", size=1000, chunk=str(chunk), rng=rng),
                          "times_s": times.tolist(), "baseline_s": [1e-4] * 6})  # fmt: skip
        for size in (1, 1024, 65536, 1048576):
            per = cost + size * seconds_per_byte[executor]
            times = 200 * per * (1 + rng.uniform(-0.01, 0.01, 6))
            cells.append({**cell(executor, 4, 1.0, workload="payload", size=200, chunk="1",
                                 params={"payload_bytes": size}, rng=rng),
                          "times_s": times.tolist(), "baseline_s": [1e-3] * 6})  # fmt: skip
        for task_us in (10, 100, 1000, 10000, 100000):
            task_s = task_us * 1e-6
            serial = 64 * task_s
            parallel = serial / 4 + 64 * cost  # the driver pays each task's cost, one after another
            cells.append(cell(executor, 4, serial / parallel, workload="spin", size=64, chunk="1",
                              params={"task_us": task_us}, serial_s=serial, rng=rng))  # fmt: skip
    return write_journal(path, cells, env=env, run_id=run_id)


def test_probe_fits_and_metg(tmp_path):
    found = analysis.analyse(bench.load(probe_journal(tmp_path / "probes.jsonl")))
    (env,) = found.environments
    overhead = {fit.executor: fit for fit in env.overhead}
    assert overhead["process-pool"].estimate.value == pytest.approx(100e-6, rel=0.05)
    assert overhead["dask-local"].estimate.value == pytest.approx(2e-3, rel=0.05)
    assert "Theil-Sen" in overhead["dask-local"].how
    bandwidth = {fit.executor: fit.estimate for fit in env.bandwidth}
    assert bandwidth["process-pool"].value == pytest.approx(500e6, rel=0.05)
    assert bandwidth["dask-local"].low <= 200e6 * 1.05 and bandwidth["dask-local"].value == pytest.approx(
        200e6, rel=0.05
    )
    metg = {fit.executor: fit.metg for fit in env.granularity}
    # efficiency = task / (task + 4 cost): 50% where a task lasts 4 times the per-task cost
    for executor, cost in (("process-pool", 100e-6), ("dask-local", 2e-3)):
        assert metg[executor].bound is None
        assert metg[executor].low_s <= metg[executor].value_s <= metg[executor].high_s
        assert 2 * cost < metg[executor].value_s < 8 * cost
    text = " ".join(env.recommendations)
    assert (
        "dask-local x4 needs tasks of at least" in text and "Per-task cost (noop), cheapest first: process-pool" in text
    )


def test_journals_of_one_environment_pool_and_of_two_stay_apart(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = [cell("serial", 1, 1.0, chunk="n/a", rng=rng), cell("process-pool", 2, 1.9, rng=rng)]
    a = write_journal(tmp_path / "a.jsonl", cells)
    b = write_journal(tmp_path / "b.jsonl", cells)
    c = write_journal(tmp_path / "c.jsonl", cells, env={"hostname": "laptop", "cpu": "Other CPU", "cores_available": 4})
    pooled = analysis.analyse(bench.load(a, b))
    (env,) = pooled.environments
    point = next(p for p in env.cases[0].points if p.executor == "process-pool")
    assert len(point.records) == 2 and len(point.times_s) == 12 and point.speedup.n == 12
    assert env.env.journals == ("a.jsonl", "b.jsonl")
    apart = analysis.analyse(bench.load(a, c))
    assert [e.env.name for e in apart.environments] == ["A", "B"]
    assert [e.env.host for e in apart.environments] == ["node1", "laptop"]
    points = [p for e in apart.environments for case in e.cases for p in case.points]
    assert len(points) == 4 and all(len(p.records) == 1 for p in points)  # serial and process-pool in each
    report = bench.report.build(bench.load(a, c))
    assert "Environment A: node1, Test CPU, 16 cores" in report.html and "laptop, Other CPU, 4 cores" in report.html
    assert {f.name.split("-")[0] for f in report.figures} == {"a", "b"}  # figures named per environment


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "bench", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.slow
def test_every_string_from_a_journal_is_escaped_and_no_code_it_names_is_run(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    evil = "<script>alert(1)</script>"
    side = tmp_path / "side.py"  # a user's workload: a report must not import it
    side.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    name, params = f"{side}:W", {"note": "<img src=x onerror=alert(2)>", "cost": "$x^$"}
    cells = [
        cell("serial", 1, 1.0, chunk="n/a", workload=name, params=params, rng=rng),
        cell("process-pool", 2, 1.9, workload=name, params=params, rng=rng),
        cell("process-pool", 1, 0.95, workload=name, params=params, rng=rng),
        cell("dask-local", 2, 1.0, workload=name, params=params, status="error", error=f"said {evil}", rng=rng),
    ]
    journal = write_journal(tmp_path / "evil.jsonl", cells, env={"hostname": evil, "cpu": "<b>cpu</b>"})
    done = run_cli(journal, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "ran").exists()
    for page in ("index.html", "summary.md"):
        text = (tmp_path / "out" / page).read_text()
        assert "<script" not in text and "<b>cpu" not in text and "<img src=x" not in text, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;b&gt;cpu&lt;/b&gt;" in text, page
    assert len(list((tmp_path / "out" / "figures").iterdir())) >= 2  # "$x^$" is text, not mathtext


def test_few_rounds_never_pass_for_a_tie(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = [
        cell("serial", 1, 1.0, chunk="n/a", rounds=2, rng=rng),
        cell("process-pool", 2, 1.91, rounds=2, rng=rng),
        cell("process-pool", 1, 0.96, rounds=2, rng=rng),
        cell("process-pool", 2, 1.2, chunk="1", rounds=2, rng=rng),
    ]
    report = bench.report.build(bench.load(write_journal(tmp_path / "few.jsonl", cells)))
    (case,) = report.analysis.cases
    text = " ".join(case.recommendations)
    assert "use process-pool x2, chunk 16" in text and "(50%)" in text  # 2 rounds: [min, max] covers 50%
    assert "cannot be told apart" not in text and "makes no significant difference" not in text
    assert not case.runners_up and any("too few rounds" in note for note in case.notes)


@pytest.mark.slow
def test_a_previous_report_is_replaced_with_its_stale_figures_and_nothing_else(tmp_path, scaling_journal):
    out = tmp_path / "out"
    assert run_cli(scaling_journal, "-o", out).returncode == 0
    manifest = out / bench.report.MANIFEST
    written = manifest.read_text().splitlines()
    assert sorted(written) == sorted(
        ["index.html", "summary.md"] + [f"figures/{p.name}" for p in (out / "figures").iterdir()]
    )
    # a figure that an earlier report wrote (its manifest says so) and the new one lacks, and a user's own files
    (out / "figures" / "old-case-scaling.svg").write_text("<svg/>")
    manifest.write_text("".join(f"{line}\n" for line in [*written, "figures/old-case-scaling.svg"]))
    (out / "figures" / "my-plot.svg").write_text("<svg>mine</svg>")
    (out / "notes.txt").write_text("mine")
    assert run_cli(scaling_journal, "-o", out).returncode == 0
    assert not (out / "figures" / "old-case-scaling.svg").exists()  # a stale figure of this suite's report
    assert (out / "figures" / "my-plot.svg").read_text() == "<svg>mine</svg>"  # the user's: kept
    assert (out / "notes.txt").read_text() == "mine"
    assert "figures/my-plot.svg" not in manifest.read_text()


@pytest.mark.slow
def test_a_report_of_the_command_line_has_its_files_and_default_folder(scaling_journal, tmp_path):
    done = run_cli(scaling_journal)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "scaling-report"
    assert done.stdout.strip().splitlines()[-1] == str(folder / "index.html")
    assert "use " in done.stdout.splitlines()[0]  # the answer, printed
    figures = sorted(p.name for p in (folder / "figures").iterdir())
    assert figures == ["fibprimes-2000-chunks.svg", "fibprimes-2000-scaling.svg", "startup.svg"]
    startup = (folder / "figures" / "startup.svg").read_text()  # seconds on a log axis, labelled as numbers
    assert "mathdefault" not in startup and "$" not in startup
    assert re.search(r'text-anchor: end"[^>]*>[0-9.]+<', startup)  # the y axis has labels
    html = (folder / "index.html").read_text()
    assert html.count('<img src="data:image/svg+xml;base64,') == 3
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from the network
    summary = (folder / "summary.md").read_text()
    assert "| fibprimes[2000] |" in summary and "![fibprimes[2000]: speedup and efficiency" in summary
    again = run_cli(scaling_journal)  # a report of this suite is replaced
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
def test_only_skipped_and_failed_cells_give_a_report_that_says_so(tmp_path):
    cells = [
        cell("dask-slurm", 2, 1.0, status="skipped", error="no Slurm reachable"),
        cell("process-pool", 2, 1.0, status="timeout", error="cell timed out after 5 s"),
    ]
    done = run_cli(write_journal(tmp_path / "bad.jsonl", cells), "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "no cell ran ok, so nothing can be recommended" in done.stdout
    html = (tmp_path / "out" / "index.html").read_text()
    assert "no cell ran ok" in html and "no Slurm reachable" in html and "cell timed out after 5 s" in html


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read"),
        (b"", "not a journal"),
        (b"\xff\xfe\x00garbage", "not a text file"),
        (b'{"name": "x"}\n', "not a journal"),
        (b"a,b\n1,2\n", "not a journal"),
    ],
    ids=["missing", "empty", "binary", "foreign", "corrupt"],
)
def test_bad_journals_are_one_line_and_exit_2_with_nothing_written(tmp_path, content, message):
    journal = tmp_path / "journal.jsonl"
    if content is not None:
        journal.write_bytes(content)
    done = run_cli(journal, "-o", tmp_path / "out")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unusable_output_folder_is_one_line_and_exit_2(scaling_journal, tmp_path):
    (tmp_path / "file").write_text("x")
    done = run_cli(scaling_journal, "-o", tmp_path / "file" / "report")
    assert done.returncode == 2 and "is not a folder" in done.stderr and len(done.stderr.splitlines()) == 1
    page = tmp_path / "site"
    page.mkdir()
    (page / "index.html").write_text("<html>someone's page</html>")
    done = run_cli(scaling_journal, "-o", page)
    assert done.returncode == 2 and "is not a report of this suite" in done.stderr
    assert (page / "index.html").read_text() == "<html>someone's page</html>" and not (page / "figures").exists()
    (page / "index.html").unlink()
    (page / "summary.md").write_text("my notes")
    done = run_cli(scaling_journal, "-o", page)
    assert done.returncode == 2 and "exists without a report of this suite" in done.stderr
    assert (page / "summary.md").read_text() == "my notes" and not (page / "index.html").exists()
    done = run_cli(scaling_journal, scaling_journal)
    assert done.returncode == 2 and "-o DIR" in done.stderr


# -- the page in a real browser --------------------------------------------------

MEASURE = """<script>
window.addEventListener("load", () => {
  const out = [...document.querySelectorAll("img, svg")].map(e => {
    const r = e.getBoundingClientRect();
    return {tag: e.tagName, w: r.width, h: r.height, natural: e.naturalWidth || 0, complete: e.complete !== false};
  });
  const pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(*args, timeout=90):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        unavailable("chromium is not installed (the test command installs Debian's package)")
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_the_report_of_a_real_sweep_renders_in_chromium_with_every_figure(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    # process pools only: chunk size 1 costs them a round trip per item, clearly, whichever is the best
    # (a thread pool's chunk sizes can tie, and on a busy machine one may come out best)
    matrix = bench.Matrix(
        executors=("serial", "process-pool"),
        workloads=("fibprimes",),
        workers=(1, 2),
        chunksizes=("1", "16"),
        sizes=(600,),
        repeats=6,
    )
    results = bench.sweep(matrix, out=tmp_path / "results")
    report = bench.report.build(bench.load(results.path))
    index = bench.report.write(report, tmp_path / "report")
    figures = {path.name for path in (tmp_path / "report" / "figures").iterdir()}
    assert {f"fibprimes-600-{name}.svg" for name in ("pop", "timeline-best", "timeline-worst")} <= figures
    html = index.read_text()
    assert "POP efficiency of each configuration" in html and 'class="num good"' in html
    # the cost of chunk size 1 is said with its measured cause, from the traces
    [chunk] = [r for case in report.analysis.cases for r in case.recommendations if "chunk size 1 loses" in r]
    assert "(traced)" in chunk and "most likely" not in chunk
    assert re.search(r"(communication efficiency|load balance|computation scaling) 0\.\d\d against", chunk)
    shot = tmp_path / "shot.png"
    done = chromium("--window-size=1280,900", f"--screenshot={shot}", index.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert image.shape == (900, 1280)
    assert image.std() > 20 and (image < 128).mean() > 0.01  # text and figures, not a blank page

    probe = tmp_path / "report" / "probe.html"
    probe.write_text(index.read_text().replace("</body>", MEASURE + "</body>"))
    done = chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    measured = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert measured, done.stderr[-2000:]
    elements = json.loads(measured.group(1).replace("&quot;", '"'))
    images = [e for e in elements if e["tag"] == "IMG"]
    assert len(images) == len(list((tmp_path / "report" / "figures").iterdir())) >= 2
    assert all(e["w"] > 100 and e["h"] > 100 and e["natural"] > 0 and e["complete"] for e in images), elements


@pytest.mark.slow
def test_report_folder_is_not_touched_when_the_journal_is_bad(tmp_path, scaling_journal):
    first = run_cli(scaling_journal, "-o", tmp_path / "out")
    assert first.returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    done = run_cli(tmp_path / "missing.jsonl", "-o", tmp_path / "out")
    assert done.returncode == 2
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_simpler_configuration_as_fast_as_the_best_is_the_one_recommended_once(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = [
        cell("serial", 1, 1.0, chunk="n/a", rng=rng),
        cell("thread-pool", 1, 1.02, spread=0.08, rng=rng),  # a pool at one worker, no faster than the loop
        cell("process-pool", 2, 1.90, spread=0.04, rounds=8, rng=rng),
        cell("process-pool", 4, 1.93, spread=0.04, rounds=8, rng=rng),  # two more workers, no measurable gain
    ]
    (case,) = analysis.analyse(bench.load(write_journal(tmp_path / "j.jsonl", cells))).cases
    assert [p for p, _ in case.runners_up]  # the two cannot be told apart
    text = " ".join(case.recommendations)
    assert case.recommendations[0].startswith("For fibprimes[2000] use process-pool x2, chunk 16: 1.9")
    # the fastest is named once, beside the answer, and why the simpler one is given
    assert text.count("process-pool x4") == 1 and text.count("cannot be told apart") == 1
    assert "The fastest, process-pool x4, chunk 16 (1.9" in case.recommendations[0]
    # at one worker, the plain loop: the thread pool is not significantly faster
    assert [(p.executor, p.workers) for p in case.by_workers][0] == ("serial", 1)
    page = bench.report.build(bench.load(tmp_path / "j.jsonl")).html
    assert "serial x1 (no pool is significantly faster at 1 worker)" in page


@pytest.mark.slow
def test_the_probes_figure_names_only_what_it_shows(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = []
    for executor, cost in (("process-pool", 100e-6), ("dask-local", 2e-3)):
        for chunk in (1, 10, 100):
            times = (0.002 + cost * (1000 // chunk)) * (1 + rng.uniform(-0.01, 0.01, 6))
            cells.append({**cell(executor, 4, 1.0, workload="noop", size=1000, chunk=str(chunk), rng=rng),
                          "times_s": times.tolist(), "baseline_s": [1e-4] * 6})  # fmt: skip
    report = bench.report.build(bench.load(write_journal(tmp_path / "noop.jsonl", cells)))
    [probes] = [figure for figure in report.figures if figure.name.endswith("probes")]
    assert probes.title == "Per-task overhead per executor" and "andwidth" not in probes.caption + probes.svg
    both = bench.report.build(bench.load(probe_journal(tmp_path / "probes.jsonl")))
    [probes] = [figure for figure in both.figures if figure.name.endswith("probes")]
    assert probes.title == "Per-task overhead and bandwidth per executor"
    # the probes' answers are said by the command too, each in a line of its own
    done = run_cli(tmp_path / "noop.jsonl", "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert any(
        line.startswith("Per-task cost (noop), cheapest first: process-pool x4 ") for line in done.stdout.splitlines()
    )


def trace_line(record, wall_s, per_chunk_s, chunks, serial_s):
    """A trace record of ``chunks`` chunks of ``per_chunk_s`` each, spread over the cell's workers."""
    workers = record["workers"]
    columns = {name: [] for name in ("worker", "first", "items", "submit", "start", "end", "done")}
    for index in range(chunks):
        start = (index // workers) * wall_s / max(chunks // workers, 1)
        for name, value in zip(
            columns, (index % workers, index, 1, start, start, start + per_chunk_s, start + per_chunk_s), strict=True
        ):
            columns[name].append(value)
    columns.update(bytes_in=[8] * chunks, bytes_out=[8] * chunks)
    keys = ("executor", "workers", "workload", "size", "chunksize", "chunksize_spec", "params", "method")
    return {
        "schema": 1, "kind": "trace", "role": "cell", **{key: record[key] for key in keys}, "wall_s": wall_s,
        "median_s": wall_s, "serial_s": serial_s, "chunks": columns, "chunks_total": chunks,
        "lanes": [{"node": "node1", "pid": 100 + w, "rank": None, "thread": 1} for w in range(workers)],
        "clock": {"name": "perf_counter", "shared": True, "offsets": {}},
    }  # fmt: skip


def test_the_report_names_measured_causes_and_explains_a_global_efficiency_that_differs(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    cells = scaling_cells(rng)
    lines = []
    for record in cells:
        if record["executor"] == "process-pool" and record["workers"] == 4:
            if record["chunksize_spec"] == "1":  # 2000 tasks of 125 us, each with 230 us of dispatch
                record["pop"] = {"global": 0.66, "parallel": 0.7, "load_balance": 0.98, "communication": 0.35,
                                 "computation": 0.95}  # fmt: skip
                lines.append(trace_line(record, 0.357, 1.25e-4, 2000, 0.95))
            else:  # as measured, but the serial run spends half its time outside the tasks
                record["pop"] = {"global": 0.41, "parallel": 0.9, "load_balance": 0.95, "communication": 0.95,
                                 "computation": 0.46}  # fmt: skip
                lines.append(trace_line(record, 0.3, 0.28, 4, 0.5))
    path = write_journal(tmp_path / "traced.jsonl", cells)
    with path.open("a") as journal:
        journal.writelines(json.dumps({**line, "run_id": "traced"}) + "\n" for line in lines)
    results = bench.load(path)
    assert len(results.traces) == 2
    (case,) = analysis.analyse(results).cases
    text = " ".join(case.recommendations)
    assert re.search(r"chunk size 1 loses 1[4-7]%: communication efficiency 0\.35 against 0\.95, .* of dispatch", text)
    assert "(traced)" in text and "most likely" not in text
    [gap] = [note for note in case.notes if "global efficiency lies more than 15%" in note]
    assert "the serial run spends much of its time outside the tasks" in gap
    report = bench.report.build(results)
    assert "POP efficiency of each configuration" in report.html and 'class="num poor">0.35' in report.html
    assert "| process-pool x4, chunk 1 | 0.66 | 0.70 | 0.98 | 0.35 | 0.95 |" in report.markdown
    names = {figure.name for figure in report.figures}
    assert {"fibprimes-2000-pop", "fibprimes-2000-timeline-best", "fibprimes-2000-timeline-worst"} <= names
