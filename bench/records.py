"""The cost of a host lab's records per step: JSONL (journal + op log) against SQLite in WAL mode.

`python3 -m bench.records [N]` builds the N-namespace star in an isolated lab (default
200), takes its real steps and ops, and writes them the way a host-mode run does: per op
an intent and a done record in the op log, per step one journal record and a settled
record.  The same records go into one SQLite database (WAL, synchronous=NORMAL, one
transaction per op record, as the op log's write-ahead promise needs).  Prints µs per step.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from typing import Any

from nslab.engine.hostlog import HostLog
from nslab.lab import Lab
from nslab.lang.labfile import parse_text
from nslab.ops.journal import Journal, Step

from .topo import lab_text, star


def real_steps(n: int) -> list[Step]:
    with Lab() as lab:
        for cmd in parse_text(lab_text(star(n)), "star.lab").commands:
            lab.execute(cmd)
        return [s for s in lab.journal.steps if s.ops]


def jsonl(steps: list[Step], folder: str) -> float:
    journal = Journal(os.path.join(folder, "journal.jsonl"))
    log = HostLog(os.path.join(folder, "ops.jsonl"))
    t0 = time.perf_counter()
    for step in steps:
        for op, undo in zip(step.ops, step.inverse, strict=False):
            log.intent(step.n, op)
            log.done(step.n, [undo])
        journal.append_disk(step)
        log.settled(step.n)
    log.close()
    return time.perf_counter() - t0


def sqlite(steps: list[Step], folder: str) -> float:
    db = sqlite3.connect(os.path.join(folder, "lab.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE steps (n INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    db.execute("CREATE TABLE ops (id INTEGER PRIMARY KEY, step INTEGER, kind TEXT, body TEXT)")
    t0 = time.perf_counter()
    for step in steps:
        for op, undo in zip(step.ops, step.inverse, strict=False):
            db.execute("INSERT INTO ops (step, kind, body) VALUES (?, 'intent', ?)", (step.n, json.dumps(op)))
            db.execute("INSERT INTO ops (step, kind, body) VALUES (?, 'undo', ?)", (step.n, json.dumps([undo])))
        with db:  # the step and its settling in one transaction
            db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?)", (step.n, json.dumps(vars(step))))
            db.execute("INSERT INTO ops (step, kind, body) VALUES (?, 'settled', NULL)", (step.n,))
    db.close()
    return time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    steps = real_steps(n)
    ops = sum(len(s.ops) for s in steps)
    results: dict[str, Any] = {}
    for name, fn in (("jsonl", jsonl), ("sqlite-wal", sqlite)):
        runs = []
        for _ in range(5):
            with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:  # tmpfs, like /run
                runs.append(fn(steps, folder))
        results[name] = min(runs) / len(steps) * 1e6
    print(f"star {n}: {len(steps)} steps, {ops} ops; per step: "
          + ", ".join(f"{k} {v:.1f} µs" for k, v in results.items()))


if __name__ == "__main__":
    main()
