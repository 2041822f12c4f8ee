#!/usr/bin/env python3
"""dutywatch against IBM Auditree 2.0.0 on the same generated MSP evidence.

    python3 benches/auditree/run.py [--work DIR] [--auditree-only] [SIZES...]

SIZES are clients x devices (default: 1x2500 10x2500 100x250). Not run by CI.

What it does, per size:

1. `cargo bench --bench msp_cycle -- --keep DIR SIZES` (one release run for all sizes)
   generates each size's vendor answers under `DIR/{size}/clients/` and runs dutywatch's
   first cycle, an unchanged second one and one after every export was touched; its table
   gives their CPU time and peak memory. The CPU time before the first cycle (process
   start, config, store) is its `setup CPU s` column, added to the first cycle here.
2. Auditree (`auditree-framework==2.0.0` and the dependencies pinned in requirements.txt, in
   a venv at `target/auditree-venv`, made on first use) runs the same six duties
   (msp/checks/test_msp_duties.py) over the same files, through its CLI:
   `compliance --fetch --check msp.nist171 --evidence local`, three times on a fresh git
   locker: a first run (the fetchers copy every file into the locker: the generated files
   stand for the vendors' answers, as in the comparison of issue 9), an unchanged second
   run (the evidence is within its TTL, so the fetchers skip it and only the checks run), and
   a third with every evidence `--force`d (fetched again with the same bytes, as dutywatch's
   touched cycle). CPU time is user + system time of the whole process tree (os.wait4: the
   CLI and the git processes it waited for), peak memory the largest resident set in it.
3. It prints one table of both, and per duty the failing and the not-judged subjects of all
   clients on both sides (dutywatch's from its database, Auditree's from the locker's
   check_results.json), with the number of subjects the two judged differently.

`--auditree-only` skips step 1 and reuses what an earlier run kept under `--work` (default
`$CARGO_TARGET_DIR/auditree-work`), with dutywatch's figures from its `msp_cycle.log`. The work directory of the largest
size takes a few GB (evidence, dutywatch's database, the locker).
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
VENV = REPO / "target" / "auditree-venv"
EXPORTS = [
    "users.json",
    "managedDevices.json",
    "ninja-devices.json",
    "os-patches.json",
    "la-tables.json",
]
# dutywatch duty id -> the Auditree check that implements it.
DUTIES = {
    "mfa-registered": "MfaRegisteredCheck",
    "devices-compliant": "DevicesCompliantCheck",
    "rmm-reporting": "RmmReportingCheck",
    "critical-patches-14d": "CriticalPatches14dCheck",
    "important-patches-30d": "ImportantPatches30dCheck",
    "log-retention": "LogRetentionCheck",
}
FAILING_STATES = ("due_soon", "lapsed", "open")


def venv():
    """The venv's `compliance` CLI, installing auditree-framework 2.0.0 on first use."""
    cli = VENV / "bin" / "compliance"
    if not cli.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "pip"), "install", "--quiet"]
        subprocess.run(pip + ["-r", str(HERE / "requirements.txt")], check=True)
    version = subprocess.run(
        [str(cli), "--version"], capture_output=True, text=True, check=True
    )
    print(f"# {version.stdout.strip()}", flush=True)
    return cli


def run_dutywatch(work, sizes):
    """Runs msp_cycle, keeping its files; returns {size: figures}."""
    cmd = ["cargo", "bench", "--bench", "msp_cycle", "--", "--keep", str(work)] + sizes
    print(f"# {' '.join(cmd)}", flush=True)
    out = subprocess.run(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    (work / "msp_cycle.log").write_text(out.stdout)
    if out.returncode != 0:
        sys.exit(f"msp_cycle failed, see {work / 'msp_cycle.log'}")
    return parse_msp_cycle(out.stdout, sizes)


def parse_msp_cycle(text, sizes):
    """msp_cycle's table rows (see its header for the columns): {size: figures}."""
    results = {}
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] in sizes and len(fields) >= 13:
            number = [float(f.rstrip("s%")) for f in fields[1:]]
            results[fields[0]] = {
                "first": number[1],
                "first_peak": number[2],
                "first_wall": number[3],
                "second": number[4],
                "second_peak": number[5],
                "touched": number[8],
                "setup": number[11],
            }
    return results


def measured(cmd, cwd, env, log):
    """(CPU seconds of the process tree, peak RSS MB, wall seconds) of one command."""
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed ({proc.returncode}), see {log}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall


def run_auditree(cli, size_dir):
    """Auditree's three runs over one size: their CPU time, peak memory and wall time."""
    locker = size_dir / "auditree-locker"
    shutil.rmtree(locker, ignore_errors=True)
    config = size_dir / "auditree.json"
    config.write_text(
        json.dumps(
            {
                "locker": {
                    "dirname": "msp-locker",
                    "local_path": str(locker),
                    "gitconfig": {
                        "user": {"name": "bench", "email": "bench@msp.example"},
                        "commit": {"gpgsign": False},
                    },
                },
                "org": {"name": "Keystone IT"},
            },
            indent=2,
        )
    )
    env = dict(os.environ, MSP_EVIDENCE_DIR=str(size_dir))
    base = [str(cli), "--fetch", "--check", "msp.nist171", "--evidence", "local"]
    base += ["-C", str(config)]
    clients = sorted(p.name for p in (size_dir / "clients").iterdir())
    force = []
    for client in clients:
        for name in EXPORTS:
            force += ["--force", f"raw/{client}/{name}"]
    figures = {}
    for run, extra in [("first", []), ("second", []), ("touched", force)]:
        cpu, peak, wall = measured(base + extra, HERE, env, size_dir / f"auditree-{run}.log")
        figures[run], figures[f"{run}_peak"], figures[f"{run}_wall"] = cpu, peak, wall
        print(f"#   auditree {size_dir.name} {run}: {cpu:.2f} s CPU, {peak:.0f} MB, "
              f"{wall:.1f} s wall", flush=True)
    return figures


def compare(size_dir):
    """Per duty: dutywatch's and Auditree's (failing, not judged) counts over all clients, and
    how many (client, subject) pairs the two put in a different class."""
    database = size_dir / "state" / "dutywatch.db"
    results = json.loads((size_dir / "auditree-locker" / "check_results.json").read_text())
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    out = {}
    for duty, check in DUTIES.items():
        rows = db.execute(
            "SELECT client, subject, state FROM subject_state"
            " WHERE duty = ? AND gone_at IS NULL",
            (duty,),
        ).fetchall()
        dw_fail = {(c, s) for c, s, state in rows if state in FAILING_STATES}
        dw_unknown = {(c, s) for c, s, state in rows if state == "no_evidence"}
        [entry] = [v for k, v in results.items() if k.endswith(f".{check}")]
        [method] = entry["checks"].values()
        au_fail = {(c, s) for c, subjects in method["failures"].items() for s in subjects}
        au_unknown = {(c, s) for c, subjects in method["warnings"].items() for s in subjects}
        differ = len(dw_fail ^ au_fail) + len((dw_unknown ^ au_unknown) - (dw_fail ^ au_fail))
        out[duty] = (
            (len(dw_fail), len(dw_unknown)),
            (len(au_fail), len(au_unknown)),
            differ,
        )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", default=["1x2500", "10x2500", "100x250"])
    parser.add_argument("--work", type=Path, default=TARGET / "auditree-work")
    parser.add_argument("--auditree-only", action="store_true")
    args = parser.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    cli = venv()
    kept_log = args.work / "msp_cycle.log"
    if not args.auditree_only:
        dutywatch = run_dutywatch(args.work, args.sizes)
    elif kept_log.exists():
        print(f"# dutywatch: the figures kept in {kept_log}", flush=True)
        dutywatch = parse_msp_cycle(kept_log.read_text(), args.sizes)
    else:
        dutywatch = {}
    auditree = {size: run_auditree(cli, args.work / size) for size in args.sizes}

    print("\n| clients x devices | | 1st cycle CPU | 1st peak | 1st wall "
          "| unchanged 2nd CPU | 2nd peak | touched/forced CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        a = auditree[size]
        if size in dutywatch:
            d = dutywatch[size]
            print(f"| {size} | dutywatch | {d['setup'] + d['first']:.2f} s "
                  f"| {d['first_peak']:.0f} MB | {d['first_wall']:.1f} s "
                  f"| {d['second']:.2f} s | {d['second_peak']:.0f} MB "
                  f"| {d['touched']:.2f} s |")
        print(f"| {size} | Auditree | {a['first']:.2f} s | {a['first_peak']:.0f} MB "
              f"| {a['first_wall']:.1f} s | {a['second']:.2f} s "
              f"| {a['second_peak']:.0f} MB | {a['touched']:.2f} s |")
        if size in dutywatch:
            first = a["first"] / max(d["setup"] + d["first"], 0.01)
            second = a["second"] / max(d["second"], 0.01)
            touched = a["touched"] / max(d["touched"], 0.01)
            print(f"| {size} | Auditree / dutywatch | {first:.1f}x "
                  f"| | | {second:.1f}x | | {touched:.1f}x |")

    print("\nFailing / not judged subjects per duty, all clients (dutywatch: due_soon or lapsed /")
    print("no_evidence in its database; Auditree: failures / warnings in check_results.json)")
    print("| size | duty | dutywatch | Auditree | subjects judged differently |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        for duty, (dw, au, differ) in compare(args.work / size).items():
            print(f"| {size} | {duty} | {dw[0]} / {dw[1]} | {au[0]} / {au[1]} | {differ} |")


if __name__ == "__main__":
    main()
