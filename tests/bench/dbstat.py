#!/usr/bin/env python3
"""Where a store's bytes go: each database's pages from `mdb_stat -a -e`, per
event stored, and the pages `mdb_stat -a` does not show: free pages, and the
sub-databases of the split databases (schema 9: one LMDB key per prefix, its
duplicates in a tree of their own once they outgrow a sub-page), which are the
pages in use less the free ones less every database's own tree (less the
free-page list's own tree, a few dozen pages, which a store without split
databases shows there too). The events counted are those of `event_ids`
(schema 12) or `events` (schema 11 and older).

    python3 tests/bench/dbstat.py DIR/data/store
"""
import re
import subprocess
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: dbstat.py STORE_DIR (the directory holding data.mdb)")
    d = sys.argv[1]
    out = subprocess.run(["mdb_stat", "-a", "-e", d], capture_output=True, text=True, check=True).stdout
    psize = int(re.search(r"Page size: (\d+)", out).group(1))
    used = int(re.search(r"Number of pages used: (\d+)", out).group(1))
    rows = []
    for m in re.finditer(r"Status of (.*?)\n(.*?)(?=Status of |\Z)", out, re.S):
        body = m.group(2)

        def g(k):
            return int(re.search(k + r": (\d+)", body).group(1))

        rows.append((m.group(1), g("Entries"), g("Branch pages"), g("Leaf pages"), g("Overflow pages")))
    # The events: schema 12 counts them in event_ids (their envelopes are
    # under numbers in envelopes), schema 11 and older in events.
    events = max((r[1] for r in rows if r[0] in ("events", "event_ids")), default=0) or 1
    print(f"{'db':16} {'entries':>8} {'branch':>7} {'leaf':>8} {'overflow':>8} {'MiB':>8} {'B/event':>8}")
    tot = 0
    for name, e, b, l, o in sorted(rows, key=lambda r: -(r[2] + r[3] + r[4])):
        p = b + l + o
        tot += p
        if p:
            print(f"{name:16} {e:8} {b:7} {l:8} {o:8} {p * psize / 2**20:8.1f} {p * psize / events:8.0f}")
    fr = subprocess.run(["mdb_stat", "-f", d], capture_output=True, text=True, check=True).stdout
    free = int(re.search(r"Free pages: (\d+)", fr).group(1))
    live = used - free - 2  # the two meta pages
    print(f"databases' own trees: {tot} pages ({tot * psize / events:.0f} B/event)")
    print(f"sub-databases of duplicates: {live - tot} pages ({(live - tot) * psize / events:.0f} B/event)")
    print(f"in use less free pages: {live} pages ({live * psize / events:.0f} B/event)")
    print(f"file: {used} pages ({used * psize / events:.0f} B/event), {free} free; events {events}")


if __name__ == "__main__":
    main()
