"""The documentation against the repository: quoted accuracies and relative links.

The convention (docs/testing.md says it for writers): every accuracy is written as a
percentage with its source, the results/*.json file it comes from,

- right after it: ``90.80% ([recipe.json](results/recipe.json))``, or
- in the same table row: a row that links one or more json files (a "source" column)
  vouches for every percentage in it, each to be found in one of those files.

A percentage followed by a link to a web page (``94% ([paper](https://...))``) is a
figure published elsewhere and is not checked. A percentage without a source is refused
when its line, or its table's header, speaks of accuracy; other percentages (shares of
time, of memory) are free. Text in code (fenced blocks, `spans`) is ignored.

A quoted value must be one of the file's numbers (any numeric leaf), read as a fraction
(0.3825 for 38.25%) or as a percentage, rounded as printed: 36.7% stands for anything in
[36.65, 36.75].
"""
import glob
import json
import math
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))

PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?%")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"<img\b[^>]*\bsrc=\"([^\"]+)\"")
# A percentage and the link right after it: 90.80% ([recipe.json](results/recipe.json))
SOURCED = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?%\s*\(\[[^\]]*\]\(([^)\s]+)\)\)")
ACCURACY = re.compile(r"accura", re.IGNORECASE)
EXTERNAL = ("http://", "https://", "mailto:")


def without_code(text):
    """``text`` with fenced code blocks and inline code spans blanked, lines kept."""
    lines, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else re.sub(r"`[^`]*`", "``", line))
    return lines


def numbers(path):
    """Every numeric leaf (booleans aside) of a json file, as a list of floats."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            found.append(float(node))

    with open(path, encoding="utf-8") as f:
        walk(json.load(f))
    return found


def quotes(printed, values):
    """Whether the percentage ``printed`` ("36.7") rounds one of ``values`` (fraction or %)."""
    decimals = len(printed.partition(".")[2])
    half = 0.5 * 10.0 ** -decimals + 1e-9
    quoted = float(printed)
    return any(abs(100 * value - quoted) <= half or abs(value - quoted) <= half
               for value in values if math.isfinite(value))


def table_rows(lines):
    """(line number, row, header) for each row of each table, separators left out."""
    header = None
    for number, line in enumerate(lines, 1):
        if not line.lstrip().startswith("|"):
            header = None
        elif header is None:
            header = line
        elif not re.fullmatch(r"[\s|:-]+", line):
            yield number, line, header


def accuracy_problems(text, base):
    """One message per quoted accuracy that is unsourced or not found in its source.

    Parameters
    ----------
    text : str
        A markdown page.
    base : str
        The page's folder, against which its links are resolved.
    """
    lines = without_code(text)
    rows = {number: (row, header) for number, row, header in table_rows(lines)}
    problems = []
    for number, line in enumerate(lines, 1):
        row, header = rows.get(number, (line, ""))
        row_sources = [target for target in LINK.findall(row) if target.endswith(".json")]
        inline = {match.start(1): match.group(2) for match in SOURCED.finditer(line)}
        for match in PERCENT.finditer(line):
            printed, where = match.group(1), f"line {number}: {match.group(0)}"
            sources = [inline[match.start(1)]] if match.start(1) in inline else row_sources
            if sources and all(source.startswith(EXTERNAL) for source in sources):
                continue
            if not sources:
                if ACCURACY.search(line) or ACCURACY.search(header):
                    problems.append(f"{where} speaks of accuracy but names no source")
                continue
            paths = [os.path.normpath(os.path.join(base, source)) for source in sources
                     if not source.startswith(EXTERNAL)]
            missing = [path for path in paths if not os.path.isfile(path)]
            if missing:
                problems.append(f"{where} cites {missing[0]}, which does not exist")
            elif not any(quotes(printed, numbers(path)) for path in paths):
                problems.append(f"{where} is in none of {', '.join(sources)}")
    return problems


def anchors(text):
    """The anchors GitHub gives the headings of a markdown page ("## The JPEG note" -> the-jpeg-note)."""
    found, fenced = set(), False
    for line in text.split("\n"):
        fenced ^= line.lstrip().startswith("```")
        if line.startswith("#") and not fenced:
            heading = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found


def link_problems(text, base):
    """One message per relative link (markdown or <img src>) whose file or heading is missing."""
    problems = []
    for number, line in enumerate(without_code(text), 1):
        for target in LINK.findall(line) + IMAGE.findall(line):
            path, _, anchor = target.partition("#")
            if target.startswith(EXTERNAL):
                continue
            full = os.path.join(base, path) if path else None
            if path and not os.path.exists(full):
                problems.append(f"line {number}: {target} does not exist")
            elif anchor and full is not None and full.endswith(".md") \
                    and anchor not in anchors(read(full)):
                problems.append(f"line {number}: {target} names no heading of {path}")
    return problems


def read(page):
    """The text of a markdown file."""
    with open(page, encoding="utf-8") as f:
        return f.read()


def name(page):
    """A page's path in the repository, for test ids and messages."""
    return os.path.relpath(page, ROOT)


def test_there_are_pages():
    assert len(PAGES) > 1 and os.path.basename(PAGES[0]) == "README.md"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_quoted_accuracy_comes_from_its_json(page):
    assert accuracy_problems(read(page), os.path.dirname(page)) == []


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_resolves(page):
    assert link_problems(read(page), os.path.dirname(page)) == []


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_no_reference_a_reader_cannot_follow(page):
    text = read(page)
    for private in ("../shared", "these machines", "issue "):
        assert private not in text.lower(), f"{name(page)} mentions {private!r}"
    assert not re.search(r"(?<![\w&])#\d+\b", text), f"{name(page)} cites an issue number"


def test_the_readme_is_a_front_page():
    assert os.path.getsize(PAGES[0]) <= 15000


# The checker on pages written to fail it.

@pytest.fixture
def folder(tmp_path):
    os.makedirs(tmp_path / "results")
    (tmp_path / "results" / "run.json").write_text(json.dumps(
        {"test_accuracy": 0.3825, "history": {"accuracy": [0.5, 0.61234]}, "done": True}))
    return str(tmp_path)


@pytest.mark.parametrize("good", [
    "The lab's MLP reaches 38.25% ([run.json](results/run.json)) on the test split.",
    "Test accuracy 38.3% ([run.json](results/run.json)), rounded.",
    "It peaks at 61.2% ([run.json](results/run.json)) and starts at 50% ([run](results/run.json)).",
    "| model | accuracy | source |\n| --- | --- | --- |\n"
    "| mlp | 38.25% | [run.json](results/run.json) |",
    "The paper reports a test accuracy of 94% ([arXiv](https://arxiv.org/abs/2404.00498)).",
    "The first 23% of the steps warm up.",
    "```\naccuracy 12.5%\n```\nand `accuracy 12.5%` in code.",
])
def test_the_checker_accepts_sourced_accuracies(folder, good):
    assert accuracy_problems(good, folder) == []


@pytest.mark.parametrize("bad, message", [
    ("The MLP's test accuracy is 38.3%.", "names no source"),
    ("| model | accuracy |\n| --- | --- |\n| mlp | 38.25% |", "names no source"),
    ("The MLP reaches 38.5% ([run.json](results/run.json)).", "is in none of"),
    ("| model | accuracy | source |\n| --- | --- | --- |\n"
     "| mlp | 39.25% | [run.json](results/run.json) |", "is in none of"),
    ("It reaches 38.25% ([gone.json](results/gone.json)).", "does not exist"),
    ("A boolean is no 100% ([run.json](results/run.json)).", "is in none of"),
])
def test_the_checker_refuses_wrong_or_unsourced_accuracies(folder, bad, message):
    problems = accuracy_problems(bad, folder)
    assert len(problems) == 1 and message in problems[0]


def test_the_link_checker_finds_missing_files_and_headings(folder):
    os.makedirs(os.path.join(folder, "docs"))
    with open(os.path.join(folder, "docs", "page.md"), "w", encoding="utf-8") as f:
        f.write("# Page\n\n## The MLP's gradients: `dC/dW`\n")
    page = ("[run](results/run.json) [web](https://example.org) [here](#section) "
            "[ok](docs/page.md#the-mlps-gradients-dcdw) [no](docs/page.md#gradients)\n"
            "[gone](docs/gone.md#part) <img width=\"200\" src=\"results/missing.png\">")
    assert link_problems(page, folder) == [
        "line 1: docs/page.md#gradients names no heading of docs/page.md",
        "line 2: docs/gone.md#part does not exist",
        "line 2: results/missing.png does not exist"]
