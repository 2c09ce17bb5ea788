"""No chapter types a result into its prose: every number the text states comes from a cell, through glue.

The chapters are MyST Markdown notebooks. A cell computes a number and hands it
to the text with myst-nb's ``glue("key", value, display=False)``; the text shows
it with the role ``{glue:text}`key:.3f```. A number retyped by hand goes stale
the day the code changes, and these tests find such numbers without building
the book: they read the Markdown of every page listed in ``_toc.yml``.

What counts as a *number in prose*
----------------------------------
A numeral (digits, with an optional sign, decimal point, exponent or percent
sign, such as ``0.967``, ``-3``, ``1e-5``, ``12 %``; digit groups separated by a
space or a comma, as in ``10 000``, are one numeral) in the text a reader reads,
after the following are taken out:

- front matter, code cells and every other fenced block of code or mathematics
  (``{code-cell}``, ``{math}``, ```` ```python ````...), and inline code: the
  numbers of code are the code's own;
- roles (``{glue:text}`...```, ``{ref}`...```, ``{eq}`...```, ``{doc}`...```...):
  a glued number is the point of the exercise, the others are references;
- the targets of links (``[text](target)``, bare URLs), target labels
  (``(name)=``), directive options (``:class: dropdown``) and HTML comments.

Mathematics (``$...$``, ``$$...$$``, ``{math}`...```) states definitions, so
only its numerals of two or more characters are read (``0.5065``, ``1297``):
single digits in formulas are exponents, indices and small factors, and powers
of ten (``10^{-5}``) are round constants such as defaults and tolerances. Prose
inside collapsed notes and admonitions, their titles included, is prose.

A numeral that remains is still *not* a number in prose when it is

1. **part of a name or identifier**: a letter, digit, ``_``, ``:``, ``/``, ``#``
   or ``.`` directly before it, or a letter, ``_`` or a hyphen followed by a
   letter directly after it (``BatchNorm2d``, ``float32``, ``L1``, ``conv1d``,
   ``arXiv:1502.03167``, ``2-D``);
2. **a year**, an integer from 1900 to 2029, as in a citation (``Ioffe &
   Szegedy, 2015``);
3. **a label or a reference**: an integer, or a dotted number such as ``3.4.1``
   that does not start with ``0.``,
   right after a reference mark (``§``, ``vol.``, ``no.``, ``pp.``, ``eq.``,
   ``version``...), after a capitalized word that is not a common sentence
   opening (``Section 3.2``, ``NumPy 2``, ``NEP 50``, ``Key 1``), or after a
   lowercase noun that names an item of a sequence (``token 1``, ``head 0``,
   ``row 2``, ``rows 1 and 2``: the integer is a position, not a quantity);
   also the integer that numbers a step at the start of a line (``**2.``);
4. **0 or 1** written as a bare integer: the neutral elements that definitions
   use (``mean 0 and variance 1``, ``weights sum to 1``);
5. **a setup constant that the reader sees defined in the adjacent code**: its
   value equals a number written in a code cell of the same section (the text
   between two headings of any level), as a literal or inside a string or a
   docstring, not in a comment or a format specification; such as the ``64`` of
   ``nn.Linear(64, 64)`` when the text says "two hidden layers of 64 units"
   (a percentage matches its value or its value divided by 100: ``30 %`` and
   ``NOISE = 0.3``).

Everything else must come from a glue role. The rules are general on purpose:
they name kinds of numbers, never particular numbers or pages.

A role ``{glue:text}`key``` (or ``{glue}``, ``{glue:md}``...) must also name a
key that a ``glue(...)`` call in a code cell of its chapter hands over; a key
built with an f-string, ``glue(f"acc_{name}", ...)``, covers every key with
text in place of each replacement field. A key of another chapter is written
``path::key``. (The book build, with warnings as errors, also fails on a key
that no cell glued; this test says so without a build.) The keys are found by
parsing the code cells, so a helper that passes its first argument to glue,
``def note(name, value): glue(name, ...)``, glues the keys it is called with.
"""

import ast
import re

import pytest
import yaml

from conftest import ROOT



def chapters() -> list[str]:
    """The files of the book, in the order of _toc.yml, without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


# Fenced blocks: ```{code-cell} ..., ~~~, ::: (MyST's colon fences for directives).
FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
# Directives whose body is prose (read it), as opposed to code, mathematics or data.
PROSE_DIRECTIVES = {
    "note", "warning", "tip", "important", "hint", "caution", "attention", "danger", "error", "seealso",
    "admonition", "dropdown", "glossary", "epigraph", "sidebar", "topic", "card", "tab-item", "margin",
}
HEADING = re.compile(r"^#{1,6}\s")
NUMERAL = re.compile(
    r"(?<![\w.:/#])"                                     # rule 1: nothing name-like before
    r"[-+−]?(?:\d{1,3}(?:[ ,\u00a0\u202f]\d{3})+(?!\d)|\d+)"  # 10 000, 100,000, 42
    r"(?:\.\d+)*(?:[eE][-+−]?\d+)?"                        # .967, 3.4.1, e-5
    r"(?:[ \u00a0]?%)?"
)
# Rule 3: words after which an integer is a label or a reference, not a quantity.
ITEM_WORDS = {
    "token", "tokens", "key", "keys", "query", "queries", "head", "heads", "row", "rows", "column", "columns",
    "channel", "channels", "example", "layer", "position", "axis", "axes", "group", "seed", "step", "epoch",
    "panel", "cell", "line", "entry", "feature", "person", "image", "word",
}
REFERENCE_MARKS = {"§", "vol.", "no.", "pp.", "p.", "eq.", "fig.", "version"}
# Capitalized words that start a sentence, after which an integer is a quantity.
SENTENCE_STARTS = {
    "a", "about", "above", "after", "all", "almost", "an", "and", "as", "at", "below", "between", "both", "but",
    "by", "each", "every", "for", "from", "in", "its", "nearly", "of", "on", "only", "our", "over", "some",
    "than", "the", "their", "these", "those", "to", "under", "up", "with", "within",
}


def code_and_prose(markdown: str):
    """Split a MyST notebook into (sections, glued keys).

    Each section is (prose lines with their line numbers, the set of values of the
    number literals in the code cells of the section); a new section starts at
    every heading. The glued keys are those of glued_keys, over all code cells.
    """
    lines = markdown.splitlines()
    if lines and lines[0].strip() == "---":                       # front matter
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        lines = [""] * (end + 1) + lines[end + 1:]
    sections = [([], set())]
    cells = []
    fences = []                   # open fences, innermost last: [fence, kind, in_header]
    for number, line in enumerate(lines, start=1):
        match = FENCE.match(line)
        top = fences[-1] if fences else None
        if match and top and match["fence"][0] == top[0][0] and len(match["fence"]) >= len(top[0]) \
                and not match["info"].strip():
            if fences.pop()[1] == "code-cell":                    # a closing fence
                sections[-1][1].update(literals("\n".join(cells[-1])))
            continue
        if match and (top is None or top[1] == "prose"):
            info = match["info"].strip()
            directive = re.match(r"\{([\w:-]+)\}", info)
            name = directive.group(1) if directive else ""
            kind = "prose" if name in PROSE_DIRECTIVES else "code-cell" if name == "code-cell" else "literal"
            fences.append([match["fence"], kind, True])
            if kind == "code-cell":
                cells.append([])
            if kind == "prose":
                sections[-1][0].append((number, info[directive.end():]))   # an admonition's title
            continue
        if top and top[1] != "prose":
            if top[1] == "code-cell":
                if top[2] and line.strip() == "---":
                    # The cell's own front matter (tags, image options) is not code.
                    top[2] = "meta" if top[2] is True else False
                    continue
                if top[2] == "meta":
                    continue
                top[2] = False
                cells[-1].append(line)
            continue
        if top and top[2]:                                        # directive options right after the fence
            if re.match(r"^\s*:[\w-]+:", line):
                continue
            top[2] = False
        if HEADING.match(line):
            sections.append(([], set()))
        sections[-1][0].append((number, line))
    return sections, glued_keys(["\n".join(cell) for cell in cells])


def glued_keys(cells: list[str]) -> set[str]:
    """The keys that the code cells glue, as regular expressions.

    A key is the first argument of a call to glue, or to a function of the
    chapter that passes one of its parameters to glue as the key (a helper such as
    ``def note(name, value): glue(name, f"{value:.3f}")``), found by parsing the
    cells. A key built with an f-string, ``glue(f"acc_{name}", ...)``, stands for
    every key in which each replacement field is some text.
    """
    trees = []
    for cell in cells:
        try:
            trees.append(ast.parse(cell))
        except SyntaxError:                                       # IPython syntax: read its glue calls only
            trees.append(ast.parse("\n".join(re.findall(r"^\s*(glue\(.*\))\s*$", cell, re.M))))
    key_position = {"glue": 0}                                    # function name -> index of its key argument
    grown = True
    while grown:
        grown = False
        for function in (node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
            parameters = [argument.arg for argument in function.args.args]
            for call in calls(function, key_position):
                key = key_argument(call, key_position[call.func.id])
                if function.name not in key_position and isinstance(key, ast.Name) and key.id in parameters:
                    key_position[function.name] = parameters.index(key.id)
                    grown = True
    keys = set()
    for tree in trees:
        for call in calls(tree, key_position):
            key = key_argument(call, key_position[call.func.id])
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.add(re.escape(key.value))
            elif isinstance(key, ast.JoinedStr):
                keys.add("".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
                                 for part in key.values))
    return keys


def calls(tree: ast.AST, functions: dict[str, int]) -> list[ast.Call]:
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions]


def key_argument(call: ast.Call, position: int) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((keyword.value for keyword in call.keywords if keyword.arg == "name"), None)


def literals(code: str) -> set[float]:
    """The values of the numbers written in a code cell, with their signs dropped.

    These are the number literals, and the numbers written inside its strings and
    docstrings (``"95% interval"``), which the reader sees as well; not digits
    inside names, format specifications (``{x:10.3f}``) or comments. A cell that
    Python cannot parse (IPython syntax) gives the numbers outside its comments.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {float(token) for token in NUMBER_IN_TEXT.findall(re.sub(r"#.*", " ", code))}
    values = set()
    nodes = [tree]
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            values.add(abs(float(node.value)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            values.update(float(token) for token in NUMBER_IN_TEXT.findall(node.value))
        elif isinstance(node, ast.FormattedValue):
            nodes.append(node.value)                              # its format_spec is no number of the code
            continue
        nodes.extend(ast.iter_child_nodes(node))
    return values


NUMBER_IN_TEXT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def strip_markup(text: str) -> str:
    """The prose of one paragraph: code, roles, link targets and labels taken out, mathematics reduced.

    Mathematics keeps only its numbers with more than one digit (``0.5065``,
    ``1297``), each between spaces: single digits in formulas are exponents,
    indices and small factors, and powers of ten (``10^{-5}``) round constants.
    """
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", " ", text)             # glued values
    text = re.sub(r"\$\$.*?\$\$|(?<!\\)\$(?!\s).*?(?<![\s\\])\$|\{math\}`[^`]*`",
                  lambda m: " " + math_numbers(m.group()) + " ", text, flags=re.S)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)                    # roles: {ref}`x`, {eq}`y`
    text = re.sub(r"(`+).*?\1", " ", text, flags=re.S)                 # inline code
    text = re.sub(r"\]\([^)]*\)", "] ", text)                          # link targets
    text = re.sub(r"<https?://[^>]*>|https?://\S+", " ", text)
    text = re.sub(r"^\([\w-]+\)=\s*$", " ", text, flags=re.M)          # target labels
    return text


def math_numbers(math: str) -> str:
    """The numbers of a formula that can be results, separated by spaces."""
    math = re.sub(r"\\[a-zA-Z]+", " ", math)                         # commands: \sqrt, \cdot, \,
    math = re.sub(r"10\^\{?[-+−]?\d+\}?", " ", math)                # powers of ten: round constants
    numbers = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+−]?\d+)?", math)
    return " ".join(n for n in numbers if len(n) > 1)


def numbers_in_prose(markdown: str):
    """(line, numeral, context) for every number in prose that has no glue source."""
    sections, _ = code_and_prose(markdown)
    found = []
    for prose, defined in sections:
        # Lines are joined into paragraphs, so that spans of math or code that break across lines go whole.
        paragraphs, current = [], []
        for number, line in prose + [(None, "")]:
            if line.strip():
                current.append((number, line))
            elif current:
                paragraphs.append(current)
                current = []
        for paragraph in paragraphs:
            text = strip_markup("\n".join(line for _, line in paragraph))
            for match in NUMERAL.finditer(text):
                if is_number_in_prose(text, match, defined):
                    line = paragraph[0][0] + text[:match.start()].count("\n")
                    context = text[max(0, match.start() - 40):match.end() + 40].replace("\n", " ")
                    found.append((line, match.group().strip(), context))
    return found


def is_number_in_prose(text: str, match: re.Match, defined: set[float]) -> bool:
    """Whether a numeral found in prose is a number that needs a glue source (the rules of the docstring)."""
    numeral = match.group().strip()
    if re.match(r"[A-Za-z_]|-[A-Za-z]", text[match.end():match.end() + 2]):      # rule 1: 2-D, 3x3
        return False
    plain = re.sub(r"[ ,\u00a0\u202f%]", "", numeral).replace("−", "-")
    is_integer = re.fullmatch(r"[-+]?\d+", plain) is not None
    is_label = re.fullmatch(r"[1-9]\d*(?:\.\d+)*|0", plain) is not None           # 0, 3, 3.2, 3.4.1, not 0.93
    if is_integer and 1900 <= int(plain) <= 2029 and "," not in numeral:          # rule 2
        return False
    before = text[:match.start()]
    if is_integer and re.search(r"(?:^|\n)[ \t*_#>]*$", before) and re.match(r"[.)]\s", text[match.end():]):
        return False                                                               # rule 3: a numbered step
    if is_label:                                                                   # rule 3
        label_of = re.search(r"(§|\b[A-Za-z][\w.]*)[ \u00a0]?$", before)
        listed = re.search(r"\b([A-Za-z]\w*)[ \u00a0]\d+(?:, \d+)*,? (?:and|or|to) $", before)
        for word in (label_of, listed):
            if word and names_an_item(word.group(1)):
                return False
    try:
        number = float(plain)
    except ValueError:
        return True                                                                # 3.4.1 with no reference
    if is_integer and number in (0, 1):                                            # rule 4
        return False
    if numeral.endswith("%"):                                                      # 30 % is 0.3 in code
        return abs(number) not in defined and abs(number) / 100 not in defined
    return abs(number) not in defined                                              # rule 5


def names_an_item(word: str) -> bool:
    if word in REFERENCE_MARKS or word.lower() in REFERENCE_MARKS or word.lower() in ITEM_WORDS:
        return True
    return word[0].isupper() and word.lower() not in SENTENCE_STARTS


def glue_roles(markdown: str) -> list[tuple[str, str]]:
    """(document, key) of every glue role of the prose; the document is "" for the chapter itself."""
    sections, _ = code_and_prose(markdown)
    prose = "\n".join(line for lines, _ in sections for _, line in lines)
    roles = []
    for role, content in re.findall(r"\{glue(:\w*)?\}`([^`]+)`", prose):
        if role == ":text" and ":" in content.replace("::", ""):
            content = content.rsplit(":", 1)[0]                # {glue:text}`key:.3f`: the format goes
        document, _, key = content.rpartition("::")
        roles.append((document, key))
    return roles


CHAPTERS = chapters()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_number_in_prose_lacks_a_glue_source(chapter):
    markdown = (ROOT / f"{chapter}.md").read_text()
    found = numbers_in_prose(markdown)
    listing = "\n".join(f"  {chapter}.md:{line}: {numeral!r} in ...{context}..." for line, numeral, context in found)
    assert not found, f"{len(found)} numbers in the prose are typed in, not glued from a cell:\n{listing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_glue_role_has_a_source(chapter):
    path = ROOT / f"{chapter}.md"
    markdown = path.read_text()
    missing = []
    for document, key in glue_roles(markdown):
        source = path if not document else (path.parent / document).with_suffix(".md")
        _, glued = code_and_prose(source.read_text())
        if not any(re.fullmatch(pattern, key) for pattern in glued):
            missing.append(f"{document}::{key}" if document else key)
    assert not missing, f"glue roles whose key no cell of {chapter}.md glues: {missing}"


# The rules themselves, on small examples: each must be able to fail.

SAMPLE = """---
kernelspec:
  name: python3
---

# A chapter

Some text with 0.967 typed in, and a glued {glue:text}`acc:.3f` value; 30 % is set below, 12 % is not.

```{code-cell} ipython3
from myst_nb import glue
layer = nn.Linear(64, 32)
NOISE = 0.3
glue("acc", 0.5, display=False)
```

The layer has 64 inputs and 32 outputs, trained in 13 steps (Ioffe & Szegedy, 2015,
[arXiv:1502.03167](https://arxiv.org/abs/1502.03167)); see Section 3.2, BatchNorm2d, float32,
token 1, rows 1 and 2, NumPy 2, mean 0 and variance 1, $x = 2.5$ and `eps=1e-5`; GroupNorm 0.869.

:::{dropdown} NumPy 1 and NumPy 2
:class: dropdown
Hidden details: 0.25 here too.
:::

## Another section

The 64 here is not defined in this section.
"""


def test_a_glue_role_without_a_source_is_found(tmp_path):
    chapter = tmp_path / "chapter.md"
    chapter.write_text(SAMPLE.replace("{glue:text}`acc:.3f`", "{glue:text}`accuracy:.3f`"))
    _, glued = code_and_prose(chapter.read_text())
    roles = glue_roles(chapter.read_text())
    assert roles == [("", "accuracy")]
    assert not any(re.fullmatch(pattern, "accuracy") for pattern in glued)
    assert glued_keys(['glue(f"acc_{name}_{epoch}", value)']) == {r"acc_.+_.+"}
    helper = 'def note(name, value, fmt=".3f"):\n    glue(name, format(value, fmt), display=False)\nnote("loss", 0.5)'
    assert glued_keys([helper]) == {"loss"}
    assert glued_keys(["%time x = 1\nglue('shown', 2)"]) == {"shown"}


def test_rules_on_a_sample():
    found = [(numeral, context) for _, numeral, context in numbers_in_prose(SAMPLE)]
    numerals = [numeral for numeral, _ in found]
    assert numerals == ["0.967", "12 %", "13", "2.5", "0.869", "0.25", "64"], found
    assert code_and_prose(SAMPLE)[1] == {"acc"}
