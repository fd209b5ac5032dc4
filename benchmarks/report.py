"""Write the docs' benchmark tables from the benchmarks' saved results, so nobody types a figure in.

    python benchmarks/NAME.py --save        # writes benchmarks/results/NAME.json (benchmarks/_results.py)
    python benchmarks/report.py             # rewrites every table between markers in docs/*.md and README.md
    python benchmarks/report.py --check     # exit 1 if a file is out of date or a table is still waiting for its run

A table in a Markdown file is the text between two markers::

    <!-- table:NAME -->  ...  <!-- /table:NAME -->
    <!-- table:NAME.VIEW -->  ...  <!-- /table:NAME.VIEW -->

NAME is the benchmark (``benchmarks/NAME.py``, results in ``benchmarks/results/NAME.json``); VIEW picks
one of its tables when it feeds several (``capacity.pages``). Everything between the markers is
replaced; everything outside them is left as it is. Under each table goes the command and date that
produced its figures. A table whose results file does not exist yet becomes a one-line placeholder
naming the command to run.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- table:(?P<name>[\w.]+) -->\n(?P<body>.*?)<!-- /table:(?P=name) -->", re.S)
# benchmarks that take many minutes or drive real browsers: their tables may wait for a run (placeholder)
SLOW = {"app_startup", "capacity", "classroom", "latency", "phone_layout"}


# ---------------------------------------------------------------------------------------------- formatting
def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def num(v, unit: str = "", digits: int = 1) -> str:
    """A figure as the docs show it: ``None`` as 'n/a', thousands separated, the unit after a space."""
    if v is None:
        return "n/a"
    s = f"{v:,}" if isinstance(v, int) else f"{v:,.{digits}f}"
    return f"{s} {unit}".strip()


def pct(v, digits: int = 2) -> str:
    return "n/a" if v is None else f"{100 * v:.{digits}f} %"


def goal(value, limit, unit: str, op: str = "<") -> str:
    """'< 15 ms: met' / 'not met'; empty without a goal."""
    if limit is None:
        return ""
    met = value is not None and (value <= limit if op == "<=" else value < limit)
    return f"{op} {limit:g} {unit}: {'met' if met else 'not met'}".replace("  ", " ")


# ------------------------------------------------------------------------------------------------ tables
LATENCY_ROWS = {
    "predict_ms": "predict: preprocessing + ViT",
    "preprocess_ms": "preprocessing alone",
    "vit_ms": "ViT forward pass alone",
    "attention_ms": "attention maps of every layer and head + rollout",
    "gradient_rollout_ms": "gradient-weighted rollout",
    "saliency_ms": "Saliency",
    "input_x_gradient_ms": "Input x Gradient",
    "integrated_gradients_ms": "Integrated Gradients, 50 steps",
    "gradient_shap_ms": "GradientShap",
    "occlusion_ms": "Occlusion",
    "noise_tunnel_ms": "NoiseTunnel (SmoothGrad)",
    "knockout_ms": "head knockout (two heads off)",
    "faithfulness_curves_ms": "deletion/insertion curves of the default maps",
    "faithfulness_ms": "full deletion/insertion faithfulness comparison (maps + curves)",
    "trust_report_ms": "Trust page: the whole report, every method",
    "trust_cascade_max_ms": "Trust page: the slowest method's cascade",
    "inside_ms": "Inside page without patching (logit lens, DLA, distances, filters)",
    "patching_ms": "Inside page: full activation-patching sweep",
    "counterfactual_ms": "Why page: \"make it a D\" for the runner-up digit",
    "neighbours_ms": "Why page: 10 nearest training digits, vote, percentile, map",
    "forest_predict_ms": "random forest predict",
    "photo_preprocess_ms": "preprocess a decoded 4000x3000 phone photo of paper",
    "data_features_ms": "shape features of the digit (Data page)",
    "load_ms": "load both models",
    "memory_growth_mb": "memory growth over the predictions with explanations",
    "rss_mb": "process memory after loading and the first prediction",
}


def latency(rec: dict) -> str:
    res, budgets = rec["result"], rec.get("budgets", {})
    keys = [k for k in LATENCY_ROWS if k in res]
    keys += [k for k in res if k.endswith(("_ms", "_mb")) and not k.endswith("_cpu_ms")
             and k not in LATENCY_ROWS and k not in ("rss_after_mb",)]
    rows = []
    for k in keys:
        unit = "MB" if k.endswith("_mb") else "ms"
        cpu = res.get(k[:-3] + "_cpu_ms")
        label = LATENCY_ROWS.get(k, k)
        if k == "memory_growth_mb" and "memory_iterations" in res:
            label += f" ({res['memory_iterations']})"
        rows.append([label, f"`{k}`", num(res[k], unit), "" if cpu is None else num(cpu, "ms"),
                     goal(res[k], budgets.get(k), unit)])
    note = f"\n\nMedian of {res.get('runs')} runs after warm-up; {res.get('device', '')}." if "runs" in res else ""
    return table(["computation (one drawn digit)", "key", "median, wall clock", "CPU time", "budget"], rows) + note


def app_startup(rec: dict) -> str:
    r, g = rec["result"], rec["result"].get("goals", {})
    runs, right = r.get("stroke_runs_ms", []), len(r.get("stroke_runs_ms", [])) - r.get("strokes_wrong_or_timed_out", 0)
    rows = [
        ["cold start: `streamlit run` to a drawable canvas (median of "
         f"{len(r.get('cold_start_runs_s', []))})", num(r["cold_start_s"], "s", 2),
         goal(r["cold_start_s"], g.get("cold_start_s"), "s")],
        [f"stroke release to the right Prediction (median; {right}/{len(runs)} right)",
         num(r["stroke_to_prediction_ms"], "ms", 0), goal(r["stroke_to_prediction_ms"],
                                                            g.get("stroke_to_prediction_ms"), "ms")],
        ["first stroke on a fresh server", num(r["first_stroke_to_prediction_ms"], "ms", 0), ""],
        ["server memory after the first prediction", num(r["server_rss_mb"], "MB", 0),
         goal(r["server_rss_mb"], g.get("server_rss_mb"), "MB")],
        [f"server memory after {len(runs) + 1} strokes", num(r.get("server_rss_mb_after_strokes"), "MB", 0), ""],
    ]
    return table(["app, in chromium", "measured", "goal"], rows)


def pages(rec: dict) -> str:
    r = rec["result"]
    rows = [[name, num(p["median_s"], "s", 3), num(p["cold_s"], "s", 2), goal(p["median_s"], p["goal_s"], "s")]
            for name, p in r["pages"].items()]
    return table(["page (AppTest)", "median render", "first render in the process", "goal"], rows)


def capacity_server(rec: dict) -> str:
    r, g = rec["result"], rec.get("goals", {})
    n = len(r.get("stroke_cpu_ms_runs", []))
    rows = [
        [f"CPU per drawn stroke, up to the right Prediction (median of {n}; {r.get('strokes_wrong')} wrong)",
         "`stroke_cpu_ms`", num(r.get("stroke_cpu_ms"), "ms"), goal(r.get("stroke_cpu_ms"), g.get("stroke_cpu_ms"),
                                                                    "ms", "<=")],
        ["learners drawing a stroke every 2 s that one core serves", "`users_per_core`",
         num(r.get("users_per_core")), ""],
        ["memory after one session has drawn and visited every page", "`rss_mb_all_pages`",
         num(r.get("rss_mb_all_pages"), "MB", 0), goal(r.get("rss_mb_all_pages"), g.get("rss_mb_all_pages"), "MB")],
        [f"memory per further session (RSS slope over {r.get('sessions')} sessions)", "`rss_mb_per_session`",
         num(r.get("rss_mb_per_session"), "MB"), goal(r.get("rss_mb_per_session"), g.get("rss_mb_per_session"),
                                                      "MB")],
        ["what Streamlit counts in one session's state", "`session_state_mb_per_session`",
         num(r.get("session_state_mb_per_session"), "MB", 2), ""],
        ["memory at the first page load", "`rss_mb_cold`", num(r.get("rss_mb_cold"), "MB", 0), ""],
        ["memory growth over the strokes", "`rss_mb_stroke_growth`", num(r.get("rss_mb_stroke_growth"), "MB"), ""],
        ["idle server CPU per second, one session open", "`idle_cpu_ms_per_s`",
         num(r.get("idle_cpu_ms_per_s"), "ms"), ""],
        ["server start: launch to `/_stcore/health`", "`start_s`", num(r.get("start_s"), "s", 2), ""],
    ]
    note = f"\n\n`/_stcore/metrics` failed: {r['streamlit_memory_error']}" if r.get("streamlit_memory_error") else ""
    return table(["server cost", "key", "measured", "goal"], rows) + note


def capacity_pages(rec: dict) -> str:
    r = rec["result"]
    warm = r.get("page_cpu_ms_warm", {})
    rows = [[t, num(ms, "ms", 0), num(warm.get(t), "ms", 0)] for t, ms in r.get("page_cpu_ms", {}).items()]
    return table(["first view of a page, drawn digit current (server CPU)", "first session (cold process)",
                  "further sessions (median)"], rows)


def capacity_replicas(rec: dict) -> str:
    reps = rec["result"].get("replicas", {})
    rows = [[f"a {name} of {p['learners']:,}", p["replicas"], p["learners_per_replica"],
             num(p["rss_mb_per_replica"], "MB", 0)] for name, p in reps.items()]
    return table(["learners drawing at once", "one-core replicas", "learners each", "memory each"], rows)


def classroom(rec: dict) -> str:
    r, g = rec["result"], rec.get("goals", {})
    rows = [
        ["browser sessions drawing at once", r["sessions"], ""],
        ["right answers", f"{r['right']} / {r['answers']}", ""],
        ["stroke release to the right Prediction, median", num(r["median_ms"], "ms", 0), ""],
        ["stroke release to the right Prediction, p95", num(r["p95_ms"], "ms", 0), goal(r["p95_ms"], g.get("p95_ms"),
                                                                                        "ms")],
        ["slowest answer", num(r["max_ms"], "ms", 0), ""],
        ["duration of the run", num(r["wall_s"], "s"), ""],
        ["server CPU (cores busy on average)", num(r["server_cpu_cores"], "", 2), ""],
        [f"browsers' CPU (cores busy, of {r['machine_cores']})", num(r["browsers_cpu_cores"], "", 2), ""],
    ]
    return table(["many browsers at once", "measured", "goal"], rows)


def forest_memory(rec: dict) -> str:
    r = rec["result"]
    s, c = r["sklearn"], r["compact"]
    rows = [["resident memory added by the imports", num(s["import_mb"], "MB"), num(c["import_mb"], "MB")],
            ["resident memory added by loading the forest", num(s["load_mb"], "MB"), num(c["load_mb"], "MB")],
            ["load time", num(s["load_s"], "s", 2), num(c["load_s"], "s", 2)],
            ["predict one image (median of 25)", num(s["predict_one_ms"], "ms", 2), num(c["predict_one_ms"], "ms", 2)],
            ["node arrays", "", num(c.get("array_mb"), "MB")],
            [f"identical probabilities on {r['images']:,} test images", "",
             "yes" if r["identical_probabilities"] else "**no**"]]
    return table(["random forest", "scikit-learn objects", "CompactForest (the app)"], rows)


def footprint(rec: dict) -> str:
    r = rec["result"]
    rows = [["tracked files (a checkout)", num(r["tracked_mb"], "MB")],
            ["git objects (what a clone downloads)", num(r["git_objects_mb"], "MB")]]
    rows += [[f"&nbsp;&nbsp;tracked in `{k}`", num(v, "MB", 2)] for k, v in r["tracked_mb_by_folder"].items()]
    rows += [[f"installed environment, every package (Python {r['python']})", num(r["environment_mb"], "MB", 0)]]
    by_size = sorted(r["requirements_mb"].items(), key=lambda kv: -kv[1])
    rows += [[f"&nbsp;&nbsp;`{k}`", num(v, "MB")] for k, v in by_size]
    return table(["size", "measured"], rows)


def predict_files(rec: dict) -> str:
    r = rec["result"]
    rows = [["test images written as PNG files and classified", f"{r['files']:,}"],
            ["files that failed", r["failed_files"]],
            ["`python -m model.predict --json" + (" --tta" if r.get("tta") else "") + "` on all of them",
             f"{num(r['predict_seconds'], 's')} ({num(r['ms_per_file'], 'ms', 2)} per file, process start included)"],
            ["accuracy through the upload path (PNG + preprocessing)", pct(r["predict_accuracy"])],
            ["accuracy as `model.evaluate` reports it", pct(r["evaluate_accuracy"])],
            ["difference", f"{r['difference_points']:+.2f} points"]]
    return table(["classify image files", "measured"], rows)


def phone_layout(rec: dict) -> str:
    r = rec["result"]
    labels = list(r)
    names = list(dict.fromkeys(n for lab in labels for n in r[lab]))
    header = ["page"]
    for lab in labels:
        header += [f"median plot panel, {lab}", f"thumbnails per row, {lab}", f"overflow, {lab}",
                   f"link labels cut, {lab}"]
    rows = []
    for n in names:
        row = [n]
        for lab in labels:
            m = r[lab].get(n)
            if m is None:
                row += ["", "", "", ""]
                continue
            thumbs = ", ".join(str(t["first_row"]) for t in m["thumbs_per_row"])
            cut = str(len(m["cut_links"])) if "cut_links" in m else "not measured"
            row += [num(m["median_panel_px"], "px", 0), thumbs, num(m["overflow_px"], "px", 0), cut]
        rows.append(row)
    return table(header, rows)


# what each condition of benchmarks/robustness.py is (its parameters, from the benchmark's code)
ROBUSTNESS_LABELS = {
    "shifted": "shifted up to 50 px",
    "small, anywhere": "small (40 px type) anywhere on the canvas",
    "fat pen": "fat pen (glyph outline thickened by 8 px)",
    "transparent background": "ink only in the alpha channel",
    "phone photo of paper (MNIST test digits)": "phone photo of paper (MNIST test digits, 1200-4000 px JPEG)",
    "tight low-res scan (MNIST test digits)":
        "tight low-resolution scan (MNIST test digits touching the frame, 10-16 px upscaled)",
}


def robustness(rec: dict) -> str:
    r = rec["result"]
    rows = []
    for name, c in r["conditions"].items():
        miss = ", ".join(f"{t}->{p}" for t, p in c["misread (true, read)"][:8])
        rows.append([ROBUSTNESS_LABELS.get(name, name), c["n"], pct(c["accuracy"]), c["refused"], miss])
    out = table(["condition", "digits", "accuracy", "refused as \"no digit\"", "misread (true->read, first 8)"], rows)
    b = r.get("blank pages")
    if b:
        out += (f"\n\nBlank pages (photos of paper with nothing written on it, {b['n']} with the phone, harder and "
                f"close-up photos' options in turn): **{b['refused']} of {b['n']} refused** as blank"
                + (f"; the others were read as {', '.join(map(str, b['read as']))} (a ruling, a shadow's corner or "
                   "the table kept as a mark)." if b["read as"] else "."))
    return out


def drawn_styles(rec: dict) -> str:
    r = rec["result"]
    rows = [[style, v["n"], pct(v["accuracy"], 1), v["refused"],
             "n/a" if v["median_p_true"] is None else f"{v['median_p_true']:.3f}"] for style, v in r["styles"].items()]
    rows.append(["all", r["n"], pct(r["accuracy"], 1), sum(v["refused"] for v in r["styles"].values()), ""])
    return table(["style drawn on the canvas", "drawings", "read right", "refused", "median P(right digit)"], rows)


def counterfactual(rec: dict) -> str:
    r = rec["result"]
    found = round(r["found_rate"] * r["pairs"])
    rows = [["found (verified by a fresh forward pass)", f"{pct(r['found_rate'], 0)} ({found}/{r['pairs']})",
             ">= 90 %"],
            ["median changed pixels (moved by > 0.1)", num(r["median_changed_pixels"]), ""],
            ["median L1 of the change", num(r["median_l1"], "", 2), ""],
            [f"time per pair, median (wall clock, {r['threads']} thread)",
             f"{num(r['median_s'], 's', 3)} (p90 {num(r['p90_s'], 's', 3)}, max {num(r['max_s'], 's', 3)})", "< 1.5 s"],
            ["CPU time per pair, median", f"{num(r['median_cpu_s'], 's', 3)} (p90 {num(r['p90_cpu_s'], 's', 3)})", ""],
            ["median Adam steps", num(r["median_steps"], "", 0), ""]]
    return table(["\"make it a D\" on random pairs", "measured", "goal"], rows)


# ------------------------------------------------------------------- tables from the model's own artifacts
def evaluation(rec: dict) -> str:
    """The test-set table of docs/model.md, from ``python -m model.evaluate --write``'s evaluation.json."""
    v, f = rec["vit"], rec["random_forest"]
    teacher = rec.get("teacher_metrics")
    rows = [["ViT", pct(v["accuracy"]), f"{v['params']:,} parameters, {v['size_bytes'] / 1e6:.2f} MB",
             f"{num(v['ms_per_image_batched'], '', 2)} / {num(v['ms_single_image'], '', 2)}"],
            ["ViT + TTA (7 views: ±1 px shifts, ±8° rotations)", pct(v["tta_accuracy"]), "same",
             f"{num(v['ms_per_image_batched_tta'], '', 2)} / {num(v['ms_single_image_tta'], '', 2)}"]]
    if teacher:
        rows.append(["convnet teacher (distilled into the ViT; not used by the app)", pct(teacher["test_accuracy"]),
                     f"{teacher['params']:,} parameters", ""])
    rows.append([f"random forest ({f['n_estimators']} trees, scikit-learn)", pct(f["accuracy"]),
                 f"{f['total_nodes']:,} nodes, {f['size_bytes'] / 1e6:.1f} MB",
                 f"{num(f['ms_per_image_batched'], '', 2)} / {num(f['ms_single_image'], '', 2)}"])
    table_ = table(["model", "test accuracy", "parameters / size", "ms per image, 1 thread (batched / single)"], rows)
    cal = (f"Temperature {v['temperature']:.3f}; expected calibration error (15 bins) on the test set "
           f"{pct(v['ece_uncalibrated'])} before and {pct(v['ece'])} after temperature scaling.")
    if v.get("preprocessed_accuracy") is not None:
        cal += (f" The test images passed through the app's preprocessing again, as if each were drawn: "
                f"{pct(v['preprocessed_accuracy'])}, {v.get('preprocessed_rejected', 0)} refused.")
    return table_ + "\n\n" + cal


def reproduce(command: str) -> str:
    """The recorded training command without where it wrote and how it printed (``--out DIR``,
    ``--name STEM`` of the files it wrote, ``--experiments-log FILE``, ``--no-progress``) and
    without ``--teacher DIR/teacher.safetensors`` (that file ships as the default teacher): what a
    newcomer types for the same weights."""
    import shlex

    words, out, i = shlex.split(command), [], 0
    while i < len(words):
        w = words[i]
        if w in ("--out", "--name", "--experiments-log"):
            i += 1
        elif w == "--teacher" and i + 1 < len(words) and Path(words[i + 1]).name == "teacher.safetensors":
            i += 1          # the run's teacher ships as model/artifacts/teacher.safetensors, the default
        elif w != "--no-progress":
            out.append(w)
        i += 1
    return shlex.join(out)


def training(rec: dict) -> str:
    """What the shipped run took, where, and what it reached on validation (vit_metrics.json)."""
    rows = [["command", f"`{rec['command']}`"],
            ["to reproduce it (writes to model/artifacts/)", f"`{reproduce(rec['command'])}`"],
            ["device", f"{rec['device']} ({rec.get('cpu_threads', '?')} thread(s), {rec.get('machine', '')}, "
                       f"torch {rec.get('torch', '')})"],
            ["time", f"{rec['train_seconds'] / 60:.1f} min for {rec['epochs']} epochs"],
            ["parameters", f"{rec['params']:,}"],
            ["validation accuracy (5,000 held-out training images)", pct(rec["final_val_accuracy"])],
            ["distilled from", f"convnet teacher ({pct(rec['teacher_val_accuracy'])} validation)"
             if rec.get("teacher") else "no teacher"],
            ["temperature (fitted on validation)", f"{rec['temperature']:.3f}"]]
    t = rec.get("teacher_metrics")
    if rec.get("teacher") and t:
        rows.append(["the teacher's own run (made once, before)",
                     f"`{reproduce(t['command'])}`: {t['train_seconds'] / 60:.1f} min for {t['epochs']} epochs, "
                     f"{t['params']:,} parameters"])
    return table(["shipped training run", ""], rows)


def experiments(rec: dict) -> str:
    """The runs on the validation split (experiments.jsonl lines that record one), oldest first."""
    rows, notes = [], []
    for r in rec["runs"]:
        if not r.get("val_size"):
            continue
        if r.get("note"):
            notes.append(r["note"])
        levers = [f"{r['epochs']} epochs", f"elastic {r.get('elastic') or 0:g}"]
        levers += [f"styles {r['styles']:g}"] if r.get("styles") else []
        levers += [f"low-res {r['lowres']:g}"] if r.get("lowres") else []
        levers += [f"scanner blur up to {r['lowres_blur']:g} px"] if r.get("lowres_blur") else []
        levers += ["convnet teacher"] if r.get("teacher") else []
        levers += [f"weight average {r['ema']:g}"] if r.get("ema") else []
        raw = r.get("final_val_accuracy_raw")
        acc = pct(r["final_val_accuracy"]) + (f" (raw weights {pct(raw)})" if raw is not None else "")
        acc += f" [{len(notes)}]" if r.get("note") else ""
        rows.append([", ".join(levers), acc, f"{r['train_seconds'] / 60:.1f}", r.get("device", "")])
    text = table(["run (55,000 training images, seed 0)", "validation accuracy", "minutes", "device"], rows)
    return text + "".join(f"\n\n[{i}] {n}" for i, n in enumerate(notes, 1))


def trust_summary(rec: dict) -> str:
    """The Trust page's test-set summary (``python -m model.analyze --trust``): per method, the share of
    digits each sanity check passes and the medians behind them, and how often the verdict ranks it first."""
    top = rec["steps"][1]            # the step after the head: head and top block randomised
    rows = []
    for m in rec["methods"].values():
        rows.append([m["label"], pct(m["pass_rate"], 1), pct(m.get("signed_pass_rate"), 1),
                     f"{m['median_spearman'][top]:.2f} / {m['median_spearman_signed'][top]:.2f}",
                     f"{m['median_smprt']:.2f} ({pct(m['smprt_pass_rate'], 0)})",
                     f"{m['median_emprt']:.2f} ({pct(m['emprt_pass_rate'], 0)})",
                     f"{m['median_random_logit_spearman']:.2f}", pct(m["best_rate"], 1)])
    best = rec["methods"].get(rec.get("most_often_best"), {}).get("label", rec.get("most_often_best"))
    return (table(["method", "MPRT passes, \\|map\\|", "MPRT passes, signed",
                   f"median ρ after {top}, \\|map\\| / signed", "sMPRT median (passes)", "eMPRT median (passes)",
                   "median random-logit ρ", "ranked first"], rows)
            + f"\n\n{rec['n_images']} test digits; ranked first most often: **{best}**.")


ARTIFACT_TABLES = {"evaluation": ("evaluation.json", "python -m model.evaluate --write"),
                   "training": ("vit_metrics.json", "python -m model.train"),
                   "trust_summary": ("trust_summary.json", "python -m model.analyze --trust"),
                   "experiments": ("experiments.jsonl", "python -m model.train (one line per run)")}


TABLES = {
    "evaluation": evaluation, "training": training, "trust_summary": trust_summary,
    "experiments": experiments,
    "latency": latency, "app_startup": app_startup, "pages": pages,
    "capacity.server": capacity_server, "capacity.pages": capacity_pages, "capacity.replicas": capacity_replicas,
    "classroom": classroom, "forest_memory": forest_memory, "footprint": footprint,
    "predict_files": predict_files, "phone_layout": phone_layout, "robustness": robustness,
    "counterfactual": counterfactual, "drawn_styles": drawn_styles,
}


# ------------------------------------------------------------------------------------------------ rewriting
def benchmark_of(name: str) -> str:
    return name.split(".")[0]


def provenance(rec: dict) -> str:
    m = rec.get("machine", {})
    load = m.get("load_average")
    where = f"{m.get('cpus')} CPUs" + (f", load average {load[0]} at the end" if load else "")
    commit = f", commit `{rec['commit']}`" if rec.get("commit") else ""
    return (f"<sub>Measured by `{rec['command']}` on {rec['date']} ({where}{commit}); table written by "
            f"`python benchmarks/report.py` from `benchmarks/results/{rec['benchmark']}.json`.</sub>")


def placeholder(name: str) -> str:
    bench = benchmark_of(name)
    return table(["not measured yet"], [[f"run `python benchmarks/{bench}.py --save && python benchmarks/report.py`"]])


def artifact(name: str, results: Path) -> str:
    """A table read from model/artifacts (written by the training and evaluation commands themselves)."""
    file, cmd = ARTIFACT_TABLES[name]
    path = results.parent.parent / "model" / "artifacts" / file
    if path.suffix == ".jsonl":
        rec = {"runs": [json.loads(line) for line in path.read_text().splitlines() if line.strip()]}
    else:
        rec = json.loads(path.read_text())
    teacher = path.parent / "teacher_metrics.json"
    if teacher.is_file():
        rec["teacher_metrics"] = json.loads(teacher.read_text())   # (vit_metrics' own "teacher" is the file name)
    when = rec.get("generated") or rec.get("finished") or (rec.get("runs") or [{}])[-1].get("finished", "")
    return (TABLES[name](rec) + f"\n\n<sub>Measured by `{cmd}` ({when}); table written by "
            f"`python benchmarks/report.py` from `model/artifacts/{file}`.</sub>\n")


def render(name: str, results: Path) -> str:
    """The text that goes between the markers of table ``name``."""
    if name not in TABLES:
        raise KeyError(f"no table called {name!r} in benchmarks/report.py (known: {', '.join(sorted(TABLES))})")
    if name in ARTIFACT_TABLES:
        return artifact(name, results)
    path = results / f"{benchmark_of(name)}.json"
    if not path.is_file():
        return placeholder(name) + "\n"
    rec = json.loads(path.read_text())
    return TABLES[name](rec) + "\n\n" + provenance(rec) + "\n"


def markers(text: str) -> list[str]:
    return [m.group("name") for m in MARKER.finditer(text)]


def rewrite(text: str, results: Path) -> str:
    return MARKER.sub(lambda m: f"<!-- table:{m['name']} -->\n{render(m['name'], results)}<!-- /table:{m['name']} -->",
                      text)


def documents(root: Path) -> list[Path]:
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (README.md, docs/, benchmarks/results/)")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date or a "
                                                         "table waits for its benchmark")
    a = ap.parse_args(argv)
    results = a.root / "benchmarks" / "results"
    stale, pending = [], []
    for doc in documents(a.root):
        text = doc.read_text()
        new = rewrite(text, results)
        pending += [f"{doc.relative_to(a.root)}: {n}" for n in markers(text)
                    if n not in ARTIFACT_TABLES and not (results / f"{benchmark_of(n)}.json").is_file()]
        if new != text:
            stale.append(doc)
            if not a.check:
                doc.write_text(new)
        print(f"{doc.relative_to(a.root)}: {len(markers(text))} table(s)"
              + (", out of date" if a.check and new != text else ", rewritten" if new != text else ", up to date"))
    for p in pending:
        print(f"waiting for its benchmark: {p}")
    return 1 if a.check and (stale or pending) else 0


if __name__ == "__main__":
    sys.exit(main())
