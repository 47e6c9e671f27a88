"""MkDocs hooks: the pages that are generated from the repository at build time.

Nothing here is copied by hand into ``docs/site-src``; every build reads the sources again:

* ``docs/results/**``: every Markdown record (the reproduce reports, the readings, the
  result notes) and every PNG becomes part of the site at its repository path, so the
  relative links the records already use (``../../benchmarks/results/x.json``,
  ``reproduce/table2-cpu/report.md``, ``accuracy.png``) resolve as they do on GitHub;
  any other file a record links to (JSON, CSV) is published beside it;
* ``reproduce.md``: one section per ``docs/results/reproduce/*/report.md`` with the
  report's verdict table, a first figure and a link to the full report;
* ``cli.md``: the ``--help`` of ``radgrok`` and of every sub-command, from the real parser
  (``radgrok.cli.build_parser``, whose ``train`` flags come from the config dataclasses);
* ``performance.md``: the benchmark JSON files in ``benchmarks/results``;
* ``run-records-example.md``: the files of a committed run directory;
* ``examples.md``: every region marked ``# --8<-- [start:NAME]`` in ``examples/*.py``, pulled in
  by pymdownx.snippets (so the page shows the code that runs), and the API of
  ``radgrok.integrations``.

``on_config`` also expands the nav entries ``reproduce.md`` and ``docs/results/README.md``
into sections that list every generated report.
"""

from __future__ import annotations

import ast
import json
import os
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
REPRODUCE = RESULTS / "reproduce"
BENCH = ROOT / "benchmarks" / "results"
EXAMPLE_RUN = RESULTS / "paper-mlp" / "penalty-s0"
EXAMPLES = ROOT / "examples"
INTEGRATIONS = ROOT / "src" / "radgrok" / "integrations"

_LINK = re.compile(r"\]\(([^)\s]+)\)")
# the graded verdicts (radgrok.experiments.verdicts.GRADES); a report's verdict cell starts with one in bold
_VERDICTS = ("reproduced", "direction only", "not reproduced", "open", "not run")
_OTHER = "other"  # a report written before the grading rule (none since fig4 and fig5 were trained again)
_SNIPPET = re.compile(r"^\s*#\s*--8<--\s*\[start:([\w.-]+)\]", re.M)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _reports() -> list[Path]:
    """The reproduce report directories: paper scale first, then by target name."""
    dirs = [d for d in REPRODUCE.iterdir() if (d / "report.md").is_file()]
    return sorted(dirs, key=lambda d: (not d.name.endswith("-paper"), d.name))


def _result_pages() -> list[Path]:
    return sorted(p for p in RESULTS.rglob("*.md") if p.is_file())


# --------------------------------------------------------------------------- nav


def _nav_title(md: Path) -> str:
    first = md.read_text(encoding="utf-8").splitlines()[:1]
    title = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else md.parent.name
    return title.removeprefix("radgrok reproduce ")


def on_config(config, **kwargs):
    """Expand the two placeholder nav entries into sections listing the generated pages."""
    nav = config.nav or []
    for i, entry in enumerate(nav):
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        (title, target), = entry.items()
        if target == "reproduce.md":
            items: list = [{"Overview": "reproduce.md"}]
            items += [{_nav_title(d / "report.md"): _rel(d / "report.md")} for d in _reports()]
            nav[i] = {title: items}
        elif target == "docs/results/README.md":
            items = [{"Overview": "docs/results/README.md"}]
            items += [{_nav_title(p): _rel(p)} for p in _result_pages()
                      if p != RESULTS / "README.md" and REPRODUCE not in p.parents]
            nav[i] = {title: items}
    return config


# --------------------------------------------------------------------------- files


def _add(files: Files, config, src_uri: str, *, content: str | None = None, path: Path | None = None) -> None:
    if files.get_file_from_path(src_uri) is not None:
        return
    if content is not None:
        files.append(File.generated(config, src_uri, content=content))
    else:
        files.append(File.generated(config, src_uri, abs_src_path=str(path)))


def _linked_files(md: Path) -> list[Path]:
    """Files (not pages, not images already published) that a record links to, inside the repository."""
    out = []
    for target in _LINK.findall(md.read_text(encoding="utf-8")):
        target = target.split("#", 1)[0]
        if not target or "://" in target or target.startswith("mailto:"):
            continue
        p = (md.parent / target).resolve()
        if ROOT in p.parents and p.is_file() and p.suffix not in (".md", ".png"):
            out.append(p)
    return out


def _linked_dirs(md: Path) -> list[Path]:
    """Directories a record links to (``plots/``) that have no README: they get a generated index."""
    out = []
    for target in _LINK.findall(md.read_text(encoding="utf-8")):
        target = target.split("#", 1)[0]
        if target.endswith("/") and "://" not in target:
            p = (md.parent / target).resolve()
            if p.is_dir() and not (p / "README.md").exists() and not (p / "index.md").exists():
                out.append(p)
    return out


def _dir_index(d: Path) -> str:
    lines = [f"# {d.name}", "", f"The figures in `{_rel(d)}/`.", ""]
    lines += [f"![{png.stem}]({png.name})\n" for png in sorted(d.glob("*.png"))]
    return "\n".join(lines)


def on_files(files: Files, config, **kwargs) -> Files:
    for md in _result_pages():
        _add(files, config, _rel(md), path=md)
        for p in _linked_files(md):
            _add(files, config, _rel(p), path=p)
        for d in _linked_dirs(md):
            _add(files, config, _rel(d / "index.md"), content=_dir_index(d))
    for png in sorted(RESULTS.rglob("*.png")):
        _add(files, config, _rel(png), path=png)
    for js in sorted(BENCH.glob("*.json")):
        _add(files, config, _rel(js), path=js)
    _add(files, config, "reproduce.md", content=reproduce_page())
    _add(files, config, "cli.md", content=cli_page())
    _add(files, config, "performance.md", content=performance_page())
    _add(files, config, "run-records-example.md", content=run_record_page())
    _add(files, config, "examples.md", content=examples_page())
    return files


def on_page_markdown(markdown: str, page, config, files: Files, **kwargs) -> str:
    """In the mirrored records only: a link to a directory points at its generated index, a link
    to the repository's README (which is not a page) at the site's front page, and a link into
    docs/site-src at that page where the site publishes it."""
    src = page.file.src_uri
    if not src.startswith("docs/results/"):
        return markdown
    here = (ROOT / src).parent

    def fix(m: re.Match) -> str:
        target = m.group(1)
        path, _, anchor = target.partition("#")
        if not path or "://" in path:
            return m.group(0)
        p = (here / path).resolve()
        if p == ROOT / "README.md":
            return "](" + posixpath.relpath("index.md", posixpath.dirname(src)) + ")"
        site_src = ROOT / "docs" / "site-src"
        if site_src in p.parents:  # a hand-written page of the site, linked from a record
            return ("](" + posixpath.relpath(p.relative_to(site_src).as_posix(), posixpath.dirname(src))
                    + (f"#{anchor}" if anchor else "") + ")")
        if path.endswith("/") and files.get_file_from_path(_rel(p / "index.md")) is not None:
            return "](" + path + "index.md" + (f"#{anchor}" if anchor else "") + ")"
        return m.group(0)

    return _LINK.sub(fix, markdown)


# --------------------------------------------------------------------------- reproduce


def _section(text: str, heading: str) -> list[str]:
    """The lines under ``## heading`` up to the next ``## ``."""
    lines = text.splitlines()
    try:
        start = lines.index(f"## {heading}") + 1
    except ValueError:
        return []
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _verdict_counts(table: list[str]) -> dict[str, int]:
    counts = dict.fromkeys((*_VERDICTS, _OTHER), 0)
    for row in table[2:]:
        if row.startswith("|"):
            cell = row.strip().strip("|").split("|")[-1].strip()
            word = cell[2:].split("**", 1)[0] if cell.startswith("**") else cell
            counts[word if word in _VERDICTS else _OTHER] += 1
    return counts


def reproduce_page() -> str:
    out = [
        "# Reproducing the paper",
        "",
        "`radgrok reproduce TARGET` runs one of the paper's tables or figures and writes `report.md`, a",
        "`report.html` and PNGs: our numbers beside the published ones and one graded verdict per claim:",
        "**reproduced** (the direction holds and the size agrees), **direction only** (the sign holds, the",
        "size does not), **not reproduced**, **open** (runs cut before deciding) or **not run**; each report",
        "states the rule and names each verdict's baseline. This page is generated at build time from every",
        "`docs/results/reproduce/*/report.md` in the repository; each section shows the report's verdict",
        "table and its first figure, and links to the full report (settings, every arm, every figure).",
        "",
        "```bash",
        "radgrok reproduce table2 --scale cpu --seeds 3 --out runs/reproduce/table2-cpu   # < 60 min on a CPU",
        "radgrok reproduce table2 --scale paper --device cuda                               # the paper's size",
        "radgrok reproduce table2 --dry-run                                                  # trials and cost",
        "```",
        "",
        "Readings of ‖h‖: reports made before the penalty's readings existed were trained under the",
        "per-example mean reading; the [readings page](docs/results/readings/README.md) has the paper-size",
        "runs under each reading. *other* counts verdict words from before the grading rule (none now: fig4 and",
        "fig5, which read their spectra from final checkpoints that are not committed, were trained again).",
        "",
        "| report | paper's table or figure | " + " | ".join(_VERDICTS) + f" | {_OTHER} | figures |",
        "|---" * (4 + len(_VERDICTS)) + "|",
    ]
    sections = []
    for d in _reports():
        text = (d / "report.md").read_text(encoding="utf-8")
        title = _nav_title(d / "report.md")
        paper = re.search(r"^Paper: \*\*(.+?)\*\*", text, re.M)
        table = [line for line in _section(text, "Verdicts") if line.startswith("|")]
        counts = _verdict_counts(table)
        pngs = sorted(d.glob("*.png"))
        link = _rel(d / "report.md")
        c = [str(counts[v]) if table else "–" for v in (*_VERDICTS, _OTHER)]
        out.append(f"| [{title}]({link}) | {paper.group(1) if paper else '–'} | {' | '.join(c)} | {len(pngs)} |")
        sec = [f"## {title}", "", f"[Full report]({link}) · `{_rel(d)}/`", ""]
        if paper:
            sec += [f"Paper: **{paper.group(1)}**", ""]
        cmd = re.search(r"^Command: `([^`]+)`", text, re.M)
        if cmd:
            sec += [f"Command: `{cmd.group(1)}`", ""]
        sec += (table + [""]) if table else ["No verdict table: this target reports per-arm numbers only.", ""]
        first = next((p for p in pngs if p.name == "accuracy.png"), pngs[0] if pngs else None)
        if first is not None:
            sec += [f"![{title}: {first.stem}]({_rel(first)})", ""]
        sections.append("\n".join(sec))
    return "\n".join(out) + "\n\n" + "\n".join(sections)


# --------------------------------------------------------------------------- CLI


def _subcommands(parser) -> dict:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_page() -> str:
    from radgrok.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; fix the width for a stable page
    try:
        parser = build_parser()
        subs = _subcommands(parser)
        out = [
            "# Command line",
            "",
            "Generated at build time from `radgrok.cli.build_parser()`: each block below is exactly what",
            "`radgrok … --help` prints. The flags of `radgrok train` (and the fields `--grid`/`--tune` accept)",
            "are generated from the config dataclasses in `radgrok.runs.config`, which hold every default;",
            "a preset sets the fields its claim depends on and the flags override them.",
            "",
            "| command | what it does |",
            "|---|---|",
        ]
        helps = {a.dest: a.help for a in _choices_actions(parser)}
        out += [f"| [`radgrok {name}`](#radgrok-{name}) | {helps.get(name, '')} |" for name in subs]
        out += ["", "## Common commands", "", "```bash", *_COMMON, "```", "",
                "Bad values stop a command before anything is created, with one line naming the field and what "
                "is allowed (`radgrok: error: train_frac must be in (0, 1), got 1.5`, exit code 2). A run's "
                "files, its grok step and what *cut* means: [run records](run-records.md).", ""]
        out += _presets_section()
        out += ["## radgrok", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, sub in subs.items():
            out += [f"## radgrok {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
        return "\n".join(out)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


# what the README's five commands grow into; every line is a real invocation (tests/test_docs.py parses each)
_COMMON = [
    "radgrok presets                                   # every preset with a one-line description",
    "radgrok train --preset paper-mlp --seed 1         # one run; writes runs/paper-mlp-s1/",
    "radgrok train --preset paper-mlp --lam 0 --weight-decay 0.1 --out runs/strong-wd-s0",
    "radgrok train --out runs/strong-wd-s0 --resume --steps 200000   # continue a run under its recorded config",
    "radgrok demo --out demo-out --seeds 2             # the readings beside weight decay, ~5 min on 2 cores",
    "radgrok sweep --preset cpu-mlp --grid lam=0,0.05 --seeds 0 1 2 --out runs/sweep",
    "radgrok compare --tune weight_decay=1.0,3.0       # methods at one budget, wd tuned per arm on validation",
    "radgrok report runs/sweep                         # table, accuracy, grok-step bars, lambda curve, heatmap",
    "radgrok plot runs/paper-mlp-s1                    # one run: radius, Φ̃_rad, anisotropy, Fourier, selectivity",
    "radgrok reproduce table2 --scale cpu --dry-run    # the trials of one paper table and their cost",
    "radgrok reproduce table2 --scale paper --steps 1500 --only 'penalty@batch-s*'   # a cap: capped runs are bounds",
    "radgrok reproduce table2 --scale paper --device cuda --report-only   # report what a stopped invocation reached",
    "radgrok train --preset cpu-mlp --tracker tensorboard   # mirror evaluations to TensorBoard / W&B (extras)",
    "radgrok bench --quick --json bench.json           # what the penalty costs a step here, per reading",
]


def _presets_section() -> list[str]:
    """Every preset with its description, from ``radgrok.experiments.presets.PRESETS``."""
    from radgrok.experiments.presets import PRESETS

    out = ["## Presets", "",
           "Generated from `radgrok.experiments.presets.PRESETS` (what `radgrok presets` prints). A preset sets "
           "the fields its claim depends on; the flags of `radgrok train` override them.", "",
           "| preset | what it is |", "|---|---|"]

    def cell(text: str) -> str:  # one line, a pipe escaped so that the table keeps its columns
        return " ".join(text.split()).replace("|", "\\|")

    out += [f"| `{name}` | {cell(p.description)} |" for name, p in PRESETS.items()]
    return out + [""]


def _choices_actions(parser) -> list:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action._choices_actions)
    return []


# --------------------------------------------------------------------------- performance

_METRICS = [
    ("roofline_fraction", "GEMM roofline fraction", "{:.2f}"),
    ("plain_loop_ratio", "vs plain PyTorch loop", "{:.2f}×"),
    ("penalty_overhead", "penalty overhead", "{:+.1%}"),
    ("diagnostics_overhead", "diagnostics overhead", "{:+.1%}"),
    ("multiseed_speedup", "vmapped seeds speedup", "{:.2f}×"),
    ("seconds_to_grok", "seconds to grok", "{:.1f}"),
]


def _cell(m: dict | None, fmt: str) -> str:
    if not isinstance(m, dict) or m.get("median") is None:
        return "–"
    text = fmt.format(m["median"])
    if m.get("reps", 1) > 1 and m.get("min") is not None:
        text += f" ({fmt.format(m['min'])} – {fmt.format(m['max'])})"
    mark = {True: " ✓", False: " ✗"}.get(m.get("meets_target"), "")
    return text + mark


def _machine(d: dict) -> str:
    m = d.get("machine") or {}
    dev = d.get("device") or "cpu"
    if dev != "cpu" and dev:
        return dev
    cores = m.get("cores")
    return f"CPU, {cores} cores" if cores else "CPU"


def performance_page() -> str:
    quick, multi, other = [], [], []
    for path in sorted(BENCH.glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        kind = str(d.get("benchmark", ""))
        speed = kind.startswith(("radgrok bench", "benchmarks/bench.py"))
        (quick if speed else multi if kind == "multiseed_throughput" else other).append(
            (path, d))
    out = [
        "# Performance",
        "",
        "Generated at build time from the JSON files in `benchmarks/results/` (one per machine and date;",
        "`python benchmarks/bench.py [--quick] [--device cuda] --json FILE` writes them; `radgrok bench` the",
        "penalty column alone). Each cell is the median over the repetitions with the min – max in brackets;",
        "✓ / ✗: the target recorded in the file is met or not.",
        "Details of the measurements: [results §6](docs/results/README.md#6-speed).",
        "",
        "## `benchmarks/bench.py` and `radgrok bench`",
        "",
    ]
    if quick:
        targets = {}
        for _, d in quick:
            for key, _title, _ in _METRICS:
                t = (d.get(key) or {}).get("target") if isinstance(d.get(key), dict) else None
                if t and key not in targets:
                    targets[key] = t
        out += ["| file | date | machine | threads | "
                + " | ".join(f"{title}" + (f" (target {targets[k]})" if k in targets else "")
                             for k, title, _ in _METRICS) + " |",
                "|---" * (4 + len(_METRICS)) + "|"]
        for path, d in quick:
            date = str(d.get("date", ""))[:10]
            cells = [_cell(d.get(k), fmt) for k, _, fmt in _METRICS]
            out.append(f"| [{path.stem}]({_rel(path)}) | {date} | {_machine(d)} | {d.get('threads', '–')} | "
                       + " | ".join(cells) + " |")
        out.append("")
    if multi:
        out += ["## Seeds trained at once (`benchmarks/bench_multiseed.py`)", "",
                "| file | date | preset | seeds | steps | speedup over one seed at a time |",
                "|---|---|---|---|---|---|"]
        for path, d in multi:
            out.append(f"| [{path.stem}]({_rel(path)}) | {str(d.get('date', ''))[:10]} | {d.get('preset', '–')} | "
                       f"{d.get('seeds', '–')} | {d.get('steps', '–')} | {_cell(d.get('speedup'), '{:.2f}×')} |")
        out.append("")
    if other:
        out += ["## Profiles", "", "| file | benchmark | command |", "|---|---|---|"]
        for path, d in other:
            out.append(f"| [{path.stem}]({_rel(path)}) | {d.get('benchmark', '–')} | `{d.get('command', '')}` |")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- run records


def run_record_page() -> str:
    run = EXAMPLE_RUN
    out = [
        "# A run directory, file by file",
        "",
        f"Generated at build time from the committed run `{_rel(run)}/` (`paper-mlp`, seed 0, trained to",
        "its full 100,000-step budget on a CPU); see [Run records](run-records.md) for what each file is.",
        "",
    ]
    if not run.is_dir():
        return "\n".join(out + ["(The example run is not in this checkout.)", ""])
    files = sorted(p.name for p in run.iterdir() if p.is_file())
    out += ["Files: " + ", ".join(f"`{f}`" for f in files) + ".", ""]
    summary = run / "summary.json"
    if summary.exists():
        out += ["## summary.json", "", "```json", summary.read_text(encoding="utf-8").strip(), "```", ""]
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        lines = [line for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
        out += ["## metrics.jsonl", "", f"{len(lines)} rows, one per evaluation; the first and the last:", "",
                "```json", json.dumps(json.loads(lines[0]), indent=2), json.dumps(json.loads(lines[-1]), indent=2),
                "```", ""]
    config = run / "config.json"
    if config.exists():
        out += ["## config.json", "", "```json", config.read_text(encoding="utf-8").strip(), "```", ""]
    split = run / "split.json"
    if split.exists():
        d = json.loads(split.read_text(encoding="utf-8"))
        shown = {k: (v if not isinstance(v, list) or len(v) <= 8 else v[:8] + ["…"]) for k, v in d.items()}
        out += ["## split.json", "", "One line on disk; lists cut to 8 entries here:", "", "```text",
                json.dumps(shown, indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- examples


def examples_page() -> str:
    out = [
        "# Worked examples",
        "",
        "Generated at build time from `examples/*.py`: each code block is a region of an example",
        "file between its snippet comments `[start:NAME]` and `[end:NAME]`, pulled in by",
        "pymdownx.snippets, so what is shown is what runs. Every example runs as it is, and `--smoke`",
        "runs a few steps.",
        "",
    ]
    examples = sorted(EXAMPLES.glob("*.py")) if EXAMPLES.is_dir() else []
    if not examples:
        out += ["No examples in this checkout; [own loops](integrations.md) shows the API.", ""]
    for py in examples:
        text = py.read_text(encoding="utf-8")
        names = _SNIPPET.findall(text)
        doc = ast.get_docstring(ast.parse(text)) or ""
        intro, _, rest = doc.partition("\n\n")
        runs = [line.strip() for line in rest.splitlines() if line.strip().startswith("python ")]
        out += [f"## {py.stem}", "", f"`{_rel(py)}`: " + " ".join(intro.split()), ""]
        if runs:
            out += ["```bash", *runs, "```", ""]
        for name in names:
            out += ["```python", f'--8<-- "{_rel(py)}:{name}"', "```", ""]
    modules = sorted(p.stem for p in INTEGRATIONS.glob("*.py") if p.stem != "__init__") if INTEGRATIONS.is_dir() else []
    if modules:
        out += ["## API: `radgrok.integrations`", "", "::: radgrok.integrations", "    options:",
                "      show_root_heading: false", "      members: false", "      heading_level: 3", ""]
        out += [f"::: radgrok.integrations.{m}\n    options:\n      heading_level: 3\n" for m in modules]
    return "\n".join(out)
