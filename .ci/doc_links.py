#!/usr/bin/env python3
"""Fails when the crate's rendered docs hold a link that did not resolve.

rustdoc renders an intra-doc link it cannot place (an item of a crate whose docs it does
not have) as the literal text `[name]`, without a warning; this finds them in
target/doc/lightstep. Code blocks are skipped, and so are trait and blanket
implementations: their text comes from the traits' crates (std, tower, tracing, ...).
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/doc/lightstep")
# `[<code>name</code>]` (a link written as [`name`]) or `[a::b]` in running text.
in_code = re.compile(r"\[<code>[^<]*</code>\]")
bare = re.compile(r"\[[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z0-9_]+)+\]")
found = []
for page in sorted(root.rglob("*.html")):
    text = page.read_text(encoding="utf-8", errors="replace")
    for section in ('id="trait-implementations"', 'id="synthetic-implementations"',
                    'id="blanket-implementations"'):
        text = text.split(section, 1)[0]
    text = re.sub(r"<pre\b.*?</pre>", "", text, flags=re.S)
    found += [f"{page}: {m.group(0)}" for m in in_code.finditer(text)]
    prose = re.sub(r"<code>.*?</code>", "", text, flags=re.S)
    found += [f"{page}: {m.group(0)}" for m in bare.finditer(prose)]
if found:
    print("unresolved links in the docs:", *found, sep="\n  ")
    sys.exit(1)
print(f"doc links: every link in {root} resolved")
