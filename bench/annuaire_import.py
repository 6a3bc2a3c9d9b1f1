#!/usr/bin/env python3
"""Reference import of the Annuaire Santé extraction file with Python's sqlite3 and FTS5.

It does the same job as `mssante annuaire import`, for the comparison of bench/annuaire.sh: read the
"|"-separated file (BOM, CRLF, 31 columns, bad lines counted), deduplicate the addresses keeping
the richest line, sort by name, and write the same SQLite schema (entries, contentless FTS5 with
prefix indexes, names FTS, vocabulary table) in one transaction, then optimize.
Then it times naive searches (bm25 over every match) per query class, for reference.

usage: annuaire_import.py EXTRACTION.txt OUT.db
"""
import json
import os
import sqlite3
import sys
import time
import unicodedata

COLS = 31
# PY_FTS_TUNED=0 keeps FTS5's default merge settings.
TUNED = os.environ.get("PY_FTS_TUNED", "1") != "0"
SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries(id INTEGER PRIMARY KEY, rec TEXT NOT NULL);
CREATE VIRTUAL TABLE entries_fts USING fts5(
    last_name, first_name, profession, specialty, organization, service, city, postal_code, tags,
    content='', detail=column, prefix='1 2 3', tokenize="unicode61 remove_diacritics 2");
CREATE VIRTUAL TABLE names_fts USING fts5(name, tags, content='', detail=none, prefix='1 2 3',
    tokenize="unicode61 remove_diacritics 2");
CREATE VIRTUAL TABLE entries_vocab USING fts5vocab(entries_fts, 'row');
"""


def department(col, postcode):
    if 1 <= len(col) <= 3 and col.isalnum():
        return col.upper()
    if len(postcode) == 5 and postcode.isdigit():
        return postcode[:3] if postcode[:2] in ("97", "98") else postcode[:2]
    return col


def parse(path):
    rows = bad = dups = 0
    seen = {}
    entries = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        header = f.readline().lstrip("\ufeff").rstrip("\r\n").split("|")
        if len(header) != COLS:
            sys.exit("not an extraction file")
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            rows += 1
            c = [x.strip() for x in line.split("|")]
            if len(c) != COLS or "@" not in c[1]:
                bad += 1
                continue
            postcode = c[28]
            city = c[27]
            if postcode and city.startswith(postcode):
                city = city[len(postcode):]
            e = (c[1], c[0].upper(), c[4], c[8], c[9], c[10], c[13], c[14], c[16],
                 c[18] or c[19], c[7], city.strip(), postcode, department(c[29], postcode))
            key = c[1].lower()
            if key in seen:
                dups += 1
                i = seen[key]
                if sum(1 for x in e[2:] if x) > sum(1 for x in entries[i][2:] if x):
                    entries[i] = e
                continue
            seen[key] = len(entries)
            entries.append(e)
    entries.sort(key=lambda e: (e[4] or e[9], e[5], e[0]))
    return entries, rows, bad, dups


def build(entries, out):
    db = sqlite3.connect(out, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("BEGIN")
    for stmt in SCHEMA.split(";"):  # executescript would commit first
        if stmt.strip():
            db.execute(stmt)
    if TUNED:  # the same bulk-load settings as the Go importer
        for t in ("entries_fts", "names_fts"):
            for k, v in (("automerge", 0), ("crisismerge", 256), ("hashsize", 64 << 20)):
                db.execute(f"INSERT INTO {t}({t}, rank) VALUES(?, ?)", (k, v))
    ins = "INSERT INTO entries VALUES(?,?)"
    fts = ("INSERT INTO entries_fts(rowid, last_name, first_name, profession, specialty, organization,"
           " service, city, postal_code, tags) VALUES(?,?,?,?,?,?,?,?,?,?)")
    names = "INSERT INTO names_fts(rowid, name, tags) VALUES(?,?,?)"
    for i, e in enumerate(entries, 1):
        tags = "t" + e[1] + (" d" + e[13] if e[13] else "") + (" p" + e[6] if e[6] else "")
        db.execute(ins, (i, "\x1f".join(x.replace("\x1f", "") for x in e)))
        db.execute(fts, (i, e[4], e[5], e[7], e[8], e[9], e[10], e[11], e[12], tags))
        db.execute(names, (i, e[4] or e[9], tags))
    for t in ("entries_fts", "names_fts"):
        db.execute(f"INSERT INTO {t}({t}) VALUES('optimize')")
    db.execute("CREATE TABLE terms(term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("INSERT INTO terms SELECT term, doc FROM entries_vocab")
    db.execute("INSERT INTO meta VALUES('schema', '1')")
    db.execute("COMMIT")
    db.close()


CLASSES = {
    "prefix1": ["m", "d", "b", "l", "p", "c", "s", "r", "a", "g", "é", "v"],
    "prefix3": ["mar", "dup", "ber", "lef", "pha", "car", "sai", "rou", "hél", "lyo", "nan", "inf", "750"],
    "prefix8": ["martinez", "lefebvre", "pharmaci", "chirurgi", "infirmie", "cardiolo", "montpell",
                "bordeaux", "fontaine", "rousseau", "chevalie", "toulouse", "kinesith", "pediatri"],
    "two_words": ["martin marie", "dupont jean", "médecin lyon", "pharmacien paris", "infirmier nantes",
                  "bernard sophie", "cardiologie marseille", "clinique saint", "durand 750",
                  "dentiste bordeaux", "robert nath", "centre hospitalier", "moreau lil"],
}


def naive_latency(out, n=60):
    """The straightforward search: every match ranked by bm25, last word as a prefix."""
    db = sqlite3.connect(f"file:{out}?mode=ro&immutable=1", uri=True)
    res = {}
    for cls, qs in CLASSES.items():
        lat = []
        for i in range(n):
            words = qs[i % len(qs)].replace("-", " ").split()
            expr = " AND ".join('"%s"' % w for w in words) + "*"
            t = time.perf_counter()
            ids = [r[0] for r in db.execute(
                "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? "
                "ORDER BY bm25(entries_fts, 10, 6, 3, 3, 4, 2, 3, 3, 0) LIMIT 20", (expr,))]
            if ids:
                db.execute("SELECT * FROM entries WHERE id IN (%s)" % ",".join("?" * len(ids)), ids).fetchall()
            lat.append(time.perf_counter() - t)
        lat.sort()
        res[cls] = {"p50_ms": round(lat[len(lat) // 2] * 1000, 3), "p99_ms": round(lat[len(lat) * 99 // 100] * 1000, 3)}
    return res


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    if os.path.exists(out):
        os.remove(out)
    t0 = time.perf_counter()
    c0 = time.process_time()
    entries, rows, bad, dups = parse(src)
    build(entries, out)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    summary = {"impl": "python3 sqlite3 " + sqlite3.sqlite_version, "tuned": TUNED, "rows": rows, "entries": len(entries),
               "duplicates": dups, "bad_lines": bad, "seconds": round(secs, 2), "cpu_seconds": round(cpu, 2),
               "index_bytes": os.path.getsize(out)}
    print(json.dumps(summary))
    if os.environ.get("PY_SKIP_SEARCH") != "1":
        print(json.dumps({"impl": "python naive bm25 search", **naive_latency(out)}))


if __name__ == "__main__":
    main()
