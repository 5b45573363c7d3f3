#!/usr/bin/env python3
"""Include cycles between the files of a module directory.

A unit is a source file together with its header: foo.c, foo.h and foo-internal.h are the unit
"foo". Unit A depends on unit B when a file of A includes a header of B. A cycle is a strongly
connected set of units that depend on each other; one of two units (a header and the file that
calls back into its includer) is tolerated, a longer one fails:

    tests/include-cycles.py [--max N] DIR...

prints each cycle longer than N (default 2) with one include that closes it, and exits 1 if any.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def unit_of(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem[: -len("-internal")] if stem.endswith("-internal") else stem


def graph(directory):
    units, edges, why = set(), {}, {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith((".c", ".h")):
            continue
        path = os.path.join(directory, name)
        u = unit_of(name)
        units.add(u)
        edges.setdefault(u, set())
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            target = os.path.normpath(os.path.join(os.path.dirname(directory.rstrip("/")), inc))
            local = os.path.normpath(os.path.join(directory, inc))
            for t in (target, local):
                if os.path.dirname(t) == os.path.normpath(directory) and os.path.exists(t):
                    v = unit_of(t)
                    if v != u:
                        edges[u].add(v)
                        why.setdefault((u, v), f"{path} includes {inc}")
                    break
    return units, edges, why


def sccs(units, edges):
    """Tarjan's algorithm, iterative."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(units):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(sorted(comp))
    return out


def main(argv):
    limit = 2
    if len(argv) > 2 and argv[1] == "--max":
        limit = int(argv[2])
        argv = argv[2:]
    bad = 0
    for d in argv[1:]:
        units, edges, why = graph(d)
        for comp in sccs(units, edges):
            if len(comp) <= limit:
                continue
            bad += 1
            print(f"include cycle of {len(comp)} files in {d}: {' '.join(comp)}", file=sys.stderr)
            inside = set(comp)
            for u in comp:
                for v in sorted(edges[u] & inside):
                    print(f"  {why[(u, v)]}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
