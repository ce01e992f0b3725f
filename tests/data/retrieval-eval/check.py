#!/usr/bin/env python3
"""Validate the retrieval evaluation set (stdlib only).

Usage: python3 tests/data/retrieval-eval/check.py [--quiet]

Checks every line of questions.jsonl: it parses, has the required fields with
allowed values, ids are unique, `doc` exists under docs/, `business` matches the
doc's folder, and `answer` (3-12 words) occurs verbatim in the document's visible
text after whitespace normalisation:
  * .html: inside ONE text node of the visible text (tags stripped with
    html.parser; script/style ignored), so an answer never spans tags;
  * .csv: inside ONE cell (header or data), so it survives any row rendering;
  * .txt/.md: anywhere in the text; in .md without Markdown markup (* _ ` | #),
    so stripping emphasis or table pipes never breaks an answer.
Also reports, as warnings, answers that occur (case-insensitively) in more than
one document or more than once in their own document (a hit would then be
ambiguous), duplicate question texts, and documents outside 300-1,500 words.
Prints counts per split / kind / business and exits 1 if there is any error.
"""
import csv
import io
import json
import os
import re
import sys
from collections import Counter, defaultdict
from html.parser import HTMLParser

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
QUESTIONS = os.path.join(HERE, "questions.jsonl")
EXTS = (".txt", ".csv", ".md", ".html")
REQUIRED = ("id", "split", "kind", "business", "question", "doc", "answer")
OPTIONAL = ("history",)


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


class _Visible(HTMLParser):
    """Collects visible text nodes; block structure is irrelevant for matching."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.nodes = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.nodes.append(norm(data))


def units(path):
    """The text units an answer must fit inside, and the whole visible text."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    if path.endswith(".html"):
        p = _Visible()
        p.feed(raw)
        p.close()
        return p.nodes, " ".join(p.nodes)
    if path.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(raw)))
        cells = [norm(c) for r in rows for c in r if c.strip()]
        return cells, " ".join(cells)
    text = norm(raw)
    return [text], text


def load_docs():
    docs = {}
    for biz in sorted(os.listdir(DOCS)):
        d = os.path.join(DOCS, biz)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(EXTS):
                docs[f"{biz}/{name.rsplit('.', 1)[0]}"] = os.path.join(d, name)
    return docs


def main():
    quiet = "--quiet" in sys.argv
    errors, warnings = [], []
    docs = load_docs()
    # A doc key is "<business>/<file>" without extension; two files with the
    # same stem would make it ambiguous.
    stems = Counter(k for k in docs)
    texts = {}
    for key, path in docs.items():
        texts[key] = units(path)
        words = len(texts[key][1].split())
        if not 300 <= words <= 1500:
            warnings.append(f"doc {key}: {words} words (outside 300-1,500)")
    for k, n in stems.items():
        if n > 1:
            errors.append(f"doc key {k} is ambiguous ({n} files)")

    md_docs = {k for k, p in docs.items() if p.endswith(".md")}
    seen_ids, seen_q = set(), {}
    counts = defaultdict(Counter)
    followups = Counter()
    used_docs = Counter()
    with open(QUESTIONS, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        where = f"line {n}"
        if not line.strip():
            errors.append(f"{where}: blank line")
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: not JSON ({e})")
            continue
        if not isinstance(q, dict):
            errors.append(f"{where}: not an object")
            continue
        missing = [k for k in REQUIRED if not isinstance(q.get(k), str) or not q.get(k).strip()]
        if missing:
            errors.append(f"{where}: missing/empty {missing}")
            continue
        extra = set(q) - set(REQUIRED) - set(OPTIONAL)
        if extra:
            errors.append(f"{where}: unknown fields {sorted(extra)}")
        where = f"{q['id']} (line {n})"
        if q["id"] in seen_ids:
            errors.append(f"{where}: duplicate id")
        seen_ids.add(q["id"])
        if q["split"] not in ("dev", "test"):
            errors.append(f"{where}: split {q['split']!r}")
        if q["kind"] not in ("paraphrase", "identifier"):
            errors.append(f"{where}: kind {q['kind']!r}")
        if "history" in q:
            h = q["history"]
            if not isinstance(h, list) or not h or not all(isinstance(t, str) and t.strip() for t in h):
                errors.append(f"{where}: history must be a non-empty list of strings")
            else:
                followups[q["split"]] += 1
        nq = norm(q["question"]).lower()
        if nq in seen_q:
            warnings.append(f"{where}: same question text as {seen_q[nq]}")
        seen_q[nq] = q["id"]
        if q["doc"] not in docs:
            errors.append(f"{where}: doc {q['doc']!r} not found")
            continue
        if q["doc"].split("/", 1)[0] != q["business"]:
            errors.append(f"{where}: business {q['business']!r} but doc {q['doc']!r}")
        ans = norm(q["answer"])
        nwords = len(ans.split())
        if not 3 <= nwords <= 12:
            errors.append(f"{where}: answer has {nwords} words (want 3-12)")
        cells, whole = texts[q["doc"]]
        if q["doc"] in md_docs and re.search(r"[*_`|#]", ans):
            # A chunker may strip Markdown markup; an answer must not depend on it.
            errors.append(f"{where}: answer {ans!r} contains Markdown markup")
        if ans not in whole:
            errors.append(f"{where}: answer {ans!r} not in {q['doc']}")
        elif not any(ans in c for c in cells):
            errors.append(f"{where}: answer {ans!r} spans tags/cells in {q['doc']}")
        low = ans.lower()
        others = [k for k, (_, t) in texts.items() if k != q["doc"] and low in t.lower()]
        if others:
            warnings.append(f"{where}: answer {ans!r} also in {others}")
        times = whole.lower().count(low)
        if times > 1:
            warnings.append(f"{where}: answer {ans!r} occurs {times}x in {q['doc']}")
        used_docs[q["doc"]] += 1
        counts["split"][q["split"]] += 1
        counts["kind"][q["kind"]] += 1
        counts["business"][q["business"]] += 1
        counts["split x kind"][f"{q['split']}/{q['kind']}"] += 1
        counts["business x split"][f"{q['business']}/{q['split']}"] += 1
    for key in docs:
        if not used_docs[key]:
            warnings.append(f"doc {key}: no question uses it")

    print(f"documents: {len(docs)} across {len({k.split('/')[0] for k in docs})} businesses")
    print(f"questions: {sum(counts['split'].values())}  follow-ups (with history): "
          f"{sum(followups.values())} {dict(sorted(followups.items()))}")
    for name in ("split", "kind", "split x kind", "business", "business x split"):
        print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts[name].items())))
    if not quiet:
        print("  per doc: " + ", ".join(f"{k}={used_docs[k]}" for k in sorted(docs)))
    for w in warnings:
        print(f"WARNING {w}")
    for e in errors:
        print(f"ERROR {e}")
    print(f"{len(errors)} errors, {len(warnings)} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
