"""benchmarks/report.py writes the docs' benchmark tables from benchmarks/results/*.json: it rewrites
only what is between the markers, every marker in the docs has its results (or, for a slow benchmark,
the placeholder naming the command), and the committed docs are what report.py writes."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _results  # noqa: E402
import report  # noqa: E402

FOREST = {"sklearn": {"import_mb": 158.6, "load_mb": 195.8, "load_s": 2.21, "predict_one_ms": 16.02},
          "compact": {"import_mb": 0.0, "load_mb": 35.1, "load_s": 1.32, "predict_one_ms": 0.42, "array_mb": 32.4},
          "identical_probabilities": True, "images": 10000}

DOC = """# Performance

Prose before, with a figure typed by hand that report.py must leave alone: 12.5 ms.

<!-- table:forest_memory -->
| stale | table |
| --- | --- |
| 1 | 2 |
<!-- /table:forest_memory -->

Prose between.

<!-- table:capacity.pages -->
<!-- /table:capacity.pages -->

Prose after.
"""


def outside(text: str) -> str:
    return report.MARKER.sub(lambda m: f"<{m['name']}>", text)


def write_record(results: Path, name: str, result: dict, **extra) -> dict:
    args = argparse.Namespace(save=True)
    path = _results.save(args, name, result, argv=["--save"], results_dir=results, **extra)
    assert path == results / f"{name}.json"
    return json.loads(path.read_text())


def test_save_only_with_the_option(tmp_path):
    assert _results.save(argparse.Namespace(save=False), "x", {"a": 1}, results_dir=tmp_path) is None
    assert not list(tmp_path.iterdir())
    rec = write_record(tmp_path, "forest_memory", FOREST, goals={"g": 1})
    assert rec["result"] == FOREST and rec["goals"] == {"g": 1} and rec["benchmark"] == "forest_memory"
    assert rec["command"].startswith("python ") and rec["command"].endswith(" --save")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", rec["date"])
    assert rec["machine"]["cpus"] >= 1


def test_round_trip_rewrites_only_between_markers(tmp_path):
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "performance.md"
    doc.write_text(DOC)
    rec = write_record(tmp_path / "benchmarks" / "results", "forest_memory", FOREST)

    assert report.main(["--root", str(tmp_path), "--check"]) == 1          # stale table, pending capacity
    assert doc.read_text() == DOC                                          # --check changes nothing
    assert report.main(["--root", str(tmp_path)]) == 0
    new = doc.read_text()
    assert outside(new) == outside(DOC)                                   # prose untouched, 12.5 ms included
    body = re.search(r"<!-- table:forest_memory -->\n(.*?)<!-- /table:forest_memory -->", new, re.S)[1]
    assert "stale" not in body
    assert "| resident memory added by loading the forest | 195.8 MB | 35.1 MB |" in body
    assert "| predict one image (median of 25) | 16.02 ms | 0.42 ms |" in body
    assert f"`{rec['command']}`" in body and rec["date"] in body            # provenance under the table
    pending = re.search(r"<!-- table:capacity.pages -->\n(.*?)<!-- /table:capacity.pages -->", new, re.S)[1]
    assert "`python benchmarks/capacity.py --save && python benchmarks/report.py`" in pending
    # idempotent: a second run changes nothing
    assert report.rewrite(new, tmp_path / "benchmarks" / "results") == new
    # once the slow benchmark has run, its placeholder becomes its table and --check passes
    write_record(tmp_path / "benchmarks" / "results", "capacity",
                 {"page_cpu_ms": {"Attention": 932.4, "Trust": 2662.0}, "page_cpu_ms_warm": {"Attention": 493.0}})
    assert report.main(["--root", str(tmp_path)]) == 0
    assert report.main(["--root", str(tmp_path), "--check"]) == 0
    final = doc.read_text()
    assert "| Attention | 932 ms | 493 ms |" in final and "| Trust | 2,662 ms | n/a |" in final
    assert outside(final) == outside(DOC)


def test_unknown_table_is_an_error(tmp_path):
    with pytest.raises(KeyError, match="no table called 'nonsense'"):
        report.rewrite("<!-- table:nonsense -->\n<!-- /table:nonsense -->", tmp_path)


# each table's renderer on a result shaped like its benchmark's output (the slow ones included,
# whose first real run is the lead's): the figure must reach the table
SAMPLES = {
    "latency": ({"predict_ms": 9.21, "trust_report_ms": 1740.0, "trust_report_cpu_ms": 1885.0,
                 "walkthrough_ms": 12.5, "memory_growth_mb": 0.0, "memory_iterations": 500, "runs": 25,
                 "device": "x86_64, 2 CPUs"}, {"budgets": {"predict_ms": 15, "trust_report_ms": 3000}},
                ["| predict: preprocessing + ViT | `predict_ms` | 9.2 ms |  | < 15 ms: met |",
                 "| 1,740.0 ms | 1,885.0 ms | < 3000 ms: met |", "| walkthrough_ms | `walkthrough_ms` | 12.5 ms |"]),
    "app_startup": ({"cold_start_s": 5.03, "cold_start_runs_s": [5.0, 5.03, 5.1],
                     "first_stroke_to_prediction_ms": 473.2, "stroke_to_prediction_ms": 344.0,
                     "stroke_runs_ms": [344.0] * 12, "strokes_wrong_or_timed_out": 0, "server_rss_mb": 376.4,
                     "server_rss_mb_after_strokes": 380.0,
                     "goals": {"cold_start_s": 12.0, "stroke_to_prediction_ms": 1000.0, "server_rss_mb": 700.0}}, {},
                    ["(median of 3) | 5.03 s | < 12 s: met |", "(median; 12/12 right) | 344 ms | < 1000 ms: met |"]),
    "capacity.server": ({"stroke_cpu_ms": 41.4, "stroke_cpu_ms_runs": [41.4] * 20, "strokes_wrong": 0,
                         "users_per_core": 48.4, "rss_mb_all_pages": 661.0, "rss_mb_per_session": 23.7,
                         "sessions": 4, "rss_mb_cold": 350.0, "rss_mb_stroke_growth": 1.7, "start_s": 0.87,
                         "idle_cpu_ms_per_s": 3.1},
                        {"goals": {"stroke_cpu_ms": 40.0, "rss_mb_all_pages": 600.0, "rss_mb_per_session": 5.0}},
                        ["| `stroke_cpu_ms` | 41.4 ms | <= 40 ms: not met |",
                         "| `rss_mb_all_pages` | 661 MB | < 600 MB: not met |"]),
    "capacity.replicas": ({"replicas": {"class": {"learners": 30, "replicas": 2, "learners_per_replica": 15,
                                                  "cores": 2, "rss_mb_per_replica": 1016}}}, {},
                          ["| a class of 30 | 2 | 15 | 1,016 MB |"]),
    "classroom": ({"sessions": 12, "answers": 60, "right": 60, "median_ms": 1413.0, "p95_ms": 4162.0,
                   "max_ms": 5000.0, "wall_s": 52.0, "server_cpu_cores": 0.08, "browsers_cpu_cores": 1.68,
                   "machine_cores": 2, "answers_per_s": 1.15}, {"goals": {"p95_ms": 1500.0}},
                  ["| right answers | 60 / 60 |", "p95 | 4,162 ms | < 1500 ms: not met |"]),
    "robustness": ({"conditions": {"phone photo of paper (MNIST test digits)": {
                        "n": 200, "accuracy": 0.985, "refused": 0, "misread (true, read)": [[7, 1]], "refusals": {}}},
                    "blank pages": {"n": 100, "refused": 80, "read as": [1, 7], "refusals": {}}, "seed": 2026}, {},
                   ["| phone photo of paper (MNIST test digits, 1200-4000 px JPEG) | 200 | 98.50 % | 0 | 7->1 |",
                    "**80 of 100 refused** as blank; the others were read as 1, 7"]),
    "phone_layout": ({"phone 390x844": {"attention": {"median_panel_px": 166.0, "panels": [166.0],
                                                      "thumbs_per_row": [], "overflow_px": 0},
                                        "baseline": {"median_panel_px": 274.0, "panels": [274.0],
                                                     "thumbs_per_row": [{"first_row": 3}], "overflow_px": 0}}}, {},
                     ["| attention | 166 px |  | 0 px |", "| baseline | 274 px | 3 | 0 px |"]),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_table_renders_its_benchmarks_figures(name, tmp_path):
    result, extra, expected = SAMPLES[name]
    write_record(tmp_path, report.benchmark_of(name), result, **extra)
    body = report.render(name, tmp_path)
    for line in expected:
        assert line in body, body


def test_every_marker_in_the_docs_has_its_results():
    """A marker's benchmark has saved its results, or (a slow benchmark only) the docs show the
    placeholder with the command; and every benchmark feeding a table has the --save option."""
    docs = report.documents(ROOT)
    names = {n for d in docs for n in report.markers(d.read_text())}
    assert names, "no table markers in README.md or docs/*.md"
    missing = []
    for n in sorted(names):
        assert n in report.TABLES, n
        if n in report.ARTIFACT_TABLES:    # written by the training/evaluation commands into model/artifacts
            assert (ROOT / "model" / "artifacts" / report.ARTIFACT_TABLES[n][0]).is_file(), n
            continue
        bench = report.benchmark_of(n)
        src = (ROOT / "benchmarks" / f"{bench}.py").read_text()
        assert "add_save_option(" in src and f'save_result(a, "{bench}"' in src, f"{bench}.py cannot --save"
        if not (_results.RESULTS / f"{bench}.json").is_file():
            missing.append(bench)
    assert not [b for b in missing if b not in report.SLOW], f"run with --save: {missing}"


def test_docs_are_what_report_writes():
    """Nobody edited a table by hand, and no results file is newer than its table
    (fix: python benchmarks/report.py)."""
    for doc in report.documents(ROOT):
        text = doc.read_text()
        assert report.rewrite(text, _results.RESULTS) == text, f"{doc.name} is out of date"


def test_model_tables_come_from_the_artifacts():
    """docs/model.md's test-set table shows evaluation.json's figures, not typed ones."""
    ev = json.loads((ROOT / "model" / "artifacts" / "evaluation.json").read_text())
    text = report.render("evaluation", _results.RESULTS)
    assert f"{100 * ev['vit']['accuracy']:.2f} %" in text and f"{ev['vit']['params']:,}" in text
    assert f"{100 * ev['random_forest']['accuracy']:.2f} %" in text
    meta = json.loads((ROOT / "model" / "artifacts" / "vit_metrics.json").read_text())
    assert f"`{meta['command']}`" in report.render("training", _results.RESULTS)
    assert report.reproduce("python -m model.train --threads 1 --out /x/y --no-progress --experiments-log e.jsonl "
                            "--epochs 4") == "python -m model.train --threads 1 --epochs 4"
    # an experiment's file names (--name) are not part of the recipe: the shipped files are vit.*
    assert report.reproduce("python -m model.train --name exp_a --styles 0.5") == "python -m model.train --styles 0.5"
    # a teacher trained elsewhere ships as model/artifacts/teacher.safetensors, the default; another file does not
    assert report.reproduce("python -m model.train --teacher /r/t15/teacher.safetensors --threads 1") == \
        "python -m model.train --threads 1"
    assert report.reproduce("python -m model.train --teacher /r/wide.safetensors") == \
        "python -m model.train --teacher /r/wide.safetensors"
