#!/usr/bin/env python3
"""
Where a store's bytes go: `mdb_stat -a -e` of DIR/store (or of the store
directory itself) as one line per database with pages, MiB and bytes per
event (events: the entries of `events`), largest first; databases with no
page are left out. Used for docs/BENCHMARKS.md ("Disk per event").

    python3 tests/bench/dbstat.py DIR
"""
import os
import re
import subprocess
import sys


def main():
    d = sys.argv[1]
    if os.path.isdir(os.path.join(d, "store")):
        d = os.path.join(d, "store")
    out = subprocess.run(["mdb_stat", "-a", "-e", d], capture_output=True, text=True,
                         check=True).stdout
    used = int(re.search(r"Number of pages used: (\d+)", out).group(1))
    dbs = []
    for m in re.finditer(r"Status of (.+)\n(?:  .*\n)*?  Branch pages: (\d+)\n  Leaf pages: (\d+)\n"
                         r"  Overflow pages: (\d+)\n  Entries: (\d+)", out):
        name, br, lf, ov, n = m.group(1), *map(int, m.groups()[1:])
        dbs.append((name, n, br, lf, ov))
    events = next((n for name, n, *_ in dbs if name == "events"), 1)
    total = 0
    print("%-16s %8s %7s %8s %8s %10s %8s" % ("db", "entries", "branch", "leaf", "overflow",
                                              "MiB", "B/event"))
    for name, n, br, lf, ov in sorted(dbs, key=lambda x: -(x[2] + x[3] + x[4])):
        pages = br + lf + ov
        if pages == 0:
            continue
        total += pages
        print("%-16s %8d %7d %8d %8d %10.1f %8d" % (name, n, br, lf, ov, pages * 4096 / 2**20,
                                                    round(pages * 4096 / events)))
    size = os.path.getsize(os.path.join(d, "data.mdb"))
    print("sum of databases %.1f MiB (%d B/event); pages used %d (%.1f MiB); file %.1f MiB "
          "(%d B/event); events %d" % (total * 4096 / 2**20, round(total * 4096 / events), used,
                                       used * 4096 / 2**20, size / 2**20, round(size / events),
                                       events))


if __name__ == "__main__":
    main()
