#!/usr/bin/env python3
"""Assembles nearkit's documentation site: the sources of a MkDocs site, built by ci/docs.sh.

    python3 ci/docs_site.py OUT_DIR

Pages: the README (quick start, which index when, benchmarks and their plots), a C reference
generated from include/nearkit.h's comments, one page per language package (its README, with
its examples), the architecture, file format, golden dataset and fuzzing documents, and the
changelog. Relative links are rewritten for the site: a link to another page's source becomes a
link to that page (anchor kept); a link to any other file of the repository becomes a link to a
copy of it under files/; a link to a directory becomes its path in code. A link to something
that does not exist is an error: the script lists every one and exits with status 1. MkDocs,
run with --strict, then checks every link between pages and every anchor.
"""
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (page, source in the repository or None for a generated one, title in the navigation)
PAGES = (
    ("index.md", "README.md", "Overview"),
    ("c.md", None, "C reference"),
    ("python.md", "python/README.md", "Python"),
    ("java.md", "java/README.md", "Java"),
    ("node.md", "node/README.md", "Node.js"),
    ("rust.md", "rust/README.md", "Rust"),
    ("rust-nearkit.md", "rust/nearkit/README.md", "Rust: the nearkit crate"),
    ("rust-sys.md", "rust/nearkit-sys/README.md", "Rust: nearkit-sys"),
    ("demos.md", "docs/demos.md", "Demos"),
    ("architecture.md", "docs/architecture.md", "Architecture"),
    ("format.md", "docs/format.md", "File format"),
    ("golden.md", "docs/golden.md", "Golden datasets"),
    ("distributed.md", "docs/distributed.md", "Distributed: shards, Dask, Spark"),
    ("fuzzing.md", "docs/fuzzing.md", "Fuzzing"),
    ("changelog.md", "CHANGELOG.md", "Changelog"),
)
HEADER = "include/nearkit.h"

LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
REF_LINK = re.compile(r"^(\s*\[[^\]]+\]:\s*)(\S+)", re.M)
FENCE = re.compile(r"^(```|~~~)")


# ---- links --------------------------------------------------------------------------------------

def rewrite_links(text, source, pages_by_source, out_dir, broken):
    """The page's text with every relative link outside code blocks made to work on the site."""
    here = os.path.dirname(source)

    def target_for(target):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            return target
        path, _, anchor = target.partition("#")
        repo_path = os.path.normpath(os.path.join(here, path))
        anchor = "#" + anchor if anchor else ""
        if repo_path in pages_by_source:
            return pages_by_source[repo_path] + anchor
        full = os.path.join(ROOT, repo_path)
        if repo_path.startswith("..") or not os.path.exists(full):
            broken.append(f"{source}: {target}")
            return target
        if os.path.isdir(full):
            return None
        copy = os.path.join(out_dir, "files", repo_path)
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copyfile(full, copy)
        return "files/" + repo_path + anchor

    def inline(m):
        new = target_for(m.group(2))
        if new is None:  # a directory: its path, in code, instead of a link
            label = re.sub(r"^!?\[|\]\($", "", m.group(1))
            return label if label.startswith("`") else f"`{label}`"
        return m.group(1) + new + m.group(3)

    def reference(m):
        new = target_for(m.group(2))
        return m.group(1) + (new if new is not None else "#")

    out, in_code = [], False
    for line in text.splitlines(keepends=True):
        if FENCE.match(line.lstrip()):
            in_code = not in_code
        elif not in_code:
            line = LINK.sub(inline, line)
            line = REF_LINK.sub(reference, line)
        out.append(line)
    return "".join(out)


# ---- the C reference ----------------------------------------------------------------------------

BANNER = re.compile(r"^/\* ---- (.+?) -+ \*/$")
PART = re.compile(r"^/\*\s+(STABLE API|EXPERIMENTAL API)\s+\*/$")
API_NAME = re.compile(r"\bNEARKIT_API\b[^(]*?\b(nearkit_\w+)\s*\(")


def escape(text):
    """Prose from a comment, with the characters Markdown would read as markup escaped (outside
    `code` spans, which show their text as it is)."""
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):
        part = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts[i] = re.sub(r"([\\*_\[\]#|])", r"\\\1", part)
    return "".join(parts)


def comment_lines(block):
    """The text of a /* ... */ comment block, one entry per line, the comment marks removed."""
    lines = []
    for line in block:
        line = line.strip()
        line = re.sub(r"^/\*+\s?", "", line)
        line = re.sub(r"\s*\*+/$", "", line)
        line = re.sub(r"^\*(\s|$)", "", line)
        lines.append(line.rstrip())
    return lines


def prose(lines):
    """Comment lines as Markdown: paragraphs, "  - " items as a list, and other indented runs
    (parameter tables) kept as preformatted text."""
    out, para, items, pre = [], [], [], []

    def flush():
        if para:
            out.append(escape(" ".join(para)) + "\n")
        if items:
            out.append("".join(f"- {escape(' '.join(item))}\n" for item in items))
        if pre:
            out.append("```text\n" + "\n".join(pre) + "\n```\n")
        para.clear(), items.clear(), pre.clear()

    for line in lines:
        if not line.strip():
            flush()
        elif re.match(r"^\s+- ", line):
            if para or pre:
                flush()
            items.append([line.strip()[2:]])
        elif items and line.startswith("    "):
            items[-1].append(line.strip())
        elif line.startswith("  "):
            if para or items:
                flush()
            pre.append(line)
        else:
            if pre or items:
                flush()
            para.append(line.strip())
    flush()
    return "\n".join(out)


def header_blocks(lines):
    """Splits header lines into blocks separated by blank lines: (comment lines, code lines)."""
    blocks, cur = [], []
    for line in lines + [""]:
        if line.strip():
            cur.append(line)
        elif cur:
            blocks.append(cur)
            cur = []
    result = []
    for block in blocks:
        comment, code, i = [], [], 0
        if block[0].lstrip().startswith("/*"):
            while i < len(block):
                comment.append(block[i])
                i += 1
                if block[i - 1].rstrip().endswith("*/"):
                    break
        code = block[i:]
        result.append((comment, code))
    return result


def c_reference():
    """The C reference page from the header: its conventions, then each section's declarations."""
    with open(os.path.join(ROOT, HEADER)) as f:
        lines = f.read().splitlines()
    end_intro = lines.index(" */")
    md = ["# C reference\n",
          "Generated from [`include/nearkit.h`](nearkit.h), the whole C ABI: each "
          "declaration with the comment that specifies it.\n",
          "## Conventions\n", prose(comment_lines(lines[1:end_intro])) + "\n"]
    sections, title = [], None
    for line in lines[end_intro + 1:]:
        part, banner = PART.match(line), BANNER.match(line)
        if part or banner:
            title = ("part", part.group(1).capitalize().replace(" api", " API")) if part else ("section", banner.group(1))
            sections.append((title, []))
        elif sections:
            sections[-1][1].append(line)
    for (level, name), body in sections:
        if level == "part":
            md.append(f"## {name}\n")
            continue
        md.append(f"### {name}\n")
        for comment, code in header_blocks(body):
            code = [c for c in code if not re.match(r"^(/\* =+ \*/|#ifdef NEARKIT_EXPERIMENTAL|#endif|}$|#ifdef __cplusplus)", c)]
            if not code and not comment:
                continue
            names = API_NAME.findall(" ".join(code))
            if names:
                md.append(f"#### {', '.join(names)}\n")
            if comment:
                md.append(prose(comment_lines(comment)) + "\n")
            if code:
                md.append("```c\n" + "\n".join(code) + "\n```\n")
    return "\n".join(md)


# ---- the site -----------------------------------------------------------------------------------

def mkdocs_yml():
    nav = "\n".join(f"  - '{title}': {page}" for page, _, title in PAGES)
    return f"""site_name: nearkit
site_description: nearest-neighbour search with one C ABI and packages for Python, Java, Node.js and Rust
docs_dir: pages
strict: true
use_directory_urls: false
theme:
  name: readthedocs
  highlightjs: false
markdown_extensions:
  - tables
  - toc:
      permalink: false
validation:
  omitted_files: warn
  absolute_links: warn
  unrecognized_links: warn
  anchors: warn
nav:
{nav}
"""


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    pages_dir = os.path.join(out, "pages")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(pages_dir)
    pages_by_source = {src: page for page, src, _ in PAGES if src}
    pages_by_source[HEADER] = "c.md"  # a link to the header lands on its reference
    broken = []
    for page, src, _ in PAGES:
        if src is None:
            text, src = c_reference(), HEADER
            pages_by_source.pop(HEADER)  # the reference links the header file itself
            text = rewrite_links(text, src, pages_by_source, pages_dir, broken)
            pages_by_source[HEADER] = "c.md"
        else:
            with open(os.path.join(ROOT, src)) as f:
                text = rewrite_links(f.read(), src, pages_by_source, pages_dir, broken)
        with open(os.path.join(pages_dir, page), "w") as f:
            f.write(text)
    with open(os.path.join(out, "mkdocs.yml"), "w") as f:
        f.write(mkdocs_yml())
    if broken:
        print("ci/docs_site.py: links to nothing:", *broken, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print(f"ci/docs_site.py: {len(PAGES)} pages in {out}")


if __name__ == "__main__":
    main()
