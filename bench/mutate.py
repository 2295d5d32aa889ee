"""Mutation score of the money modules: mutmut, then killed / survived per module.

    .venv/bin/python bench/mutate.py                 # the four modules of [tool.mutmut] only_mutate
    .venv/bin/python bench/mutate.py fills ledger    # some of them (short names)

mutmut (configured in pyproject.toml's [tool.mutmut]) copies tradeapp/ into mutants/, mutates
the modules, runs the test selection once to learn which tests reach which function, then runs
each mutant against only those tests. A mutant is killed when a test fails (or times out). The
tests run on SQLite + fakeredis: one child at a time, since they share the run's test database.
Survivors are printed with their diff; the target is >= 90 % killed per module, every survivor
left standing being equivalent (see bench/README.md). Not part of CI: it takes minutes per module.

    .venv/bin/python bench/mutate.py ledger --postgres   # then the survivors again on PostgreSQL + Redis

``--postgres`` runs the SQLite survivors once more on PostgreSQL (TEST_PG_ADMIN_URL, and
TEST_REDIS_URL for Redis; one scratch database, dropped at the end): the suite runs on both
backends, and the branches SQLite never takes (NUMERIC sums, the REPEATABLE READ snapshot of
``ledger check``) are only tested there. A mutant is killed when either run kills it.
"""

import argparse
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv running this script (a worktree may have none of its own)
MODULES = {
    "ledger": "tradeapp.services.ledger",
    "fills": "tradeapp.services.trading.fills",
    "execution": "tradeapp.services.trading.execution",
    "orders": "tradeapp.services.trading.orders",
    # the new domains' money modules
    "copy-sizing": "tradeapp.services.copy_trading.sizing",
    "copy-profit": "tradeapp.services.copy_trading.profit_share",
    "loans": "tradeapp.services.loans.calc",
    "loans-servicing": "tradeapp.services.loans.servicing",
    "referrals": "tradeapp.services.referrals.rewards",
    "signals-billing": "tradeapp.services.signals.subscriptions",
    "bots-engine": "tradeapp.services.bots.engine",
}
KILLED = {"killed", "timeout"}
TARGET = 0.90


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"short names: {', '.join(MODULES)} (default: all)")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--report-only", action="store_true", help="print the last run's results")
    parser.add_argument("--postgres", action="store_true", help="run the SQLite survivors again on PostgreSQL")
    parser.add_argument(
        "--survivors", action="store_true", help="run only the last run's survivors again (after adding tests)"
    )
    args = parser.parse_args()
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODULES)}")
    modules = [MODULES[m] for m in args.modules or MODULES]
    env = {**os.environ, "TEST_DATABASE": "sqlite"}
    if not args.report_only:
        targets = [f"{m}.*" for m in modules]
        if args.survivors:
            targets = [name for names in results(modules, env)[1].values() for name in names]
        command = [str(BIN / "mutmut"), "run", "--max-children", str(args.max_children), *targets]
        print("$", " ".join(command[:5]), "…" if args.survivors else "", flush=True)
        run = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)  # noqa: S603
        if run.returncode != 0:
            print(f"mutmut exited {run.returncode}", file=sys.stderr)
            return run.returncode
    status, survivors = results(modules, env)
    if args.postgres and not args.report_only:
        names = [name for module in modules for name in survivors[module]]
        if names:
            code = postgres_pass(names, env, args.max_children)
            if code != 0:
                return code
            status, survivors = results(modules, env)
    failed = False
    print(f"\n{'module':40} {'mutants':>8} {'killed':>8} {'(timeout)':>9} {'survived':>9} {'no tests':>9} {'score':>7}")
    for module in modules:
        counts = status[module]
        total = sum(counts.values())
        killed = sum(counts[s] for s in KILLED)
        score = killed / total if total else 0.0
        failed |= score < TARGET
        print(
            f"{module:40} {total:8} {killed:8} {counts['timeout']:9} {counts['survived']:9} {counts['no tests']:9}"
            f" {score:7.1%}"
            f"  (target {TARGET:.0%})"
        )
    for module in modules:
        for name in survivors[module]:
            shown = subprocess.run(  # noqa: S603
                [str(BIN / "mutmut"), "show", name], cwd=ROOT, env=env, capture_output=True, text=True, check=False
            ).stdout
            diff = [
                line for line in shown.splitlines() if line.startswith(("+", "-")) and line[:3] not in ("+++", "---")
            ]
            print(f"\nSURVIVED {name}\n  " + "\n  ".join(diff))
    return 1 if failed else 0


def results(modules: list[str], env: dict) -> tuple[dict[str, Counter], dict[str, list[str]]]:
    """Per module: how many mutants are in each state, and the names of those not killed."""
    listing = subprocess.run(  # noqa: S603
        [str(BIN / "mutmut"), "results", "--all", "true"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    status: dict[str, Counter] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for name, state in re.findall(r"^\s*(\S+__mutmut_\d+): (.+)$", listing, re.M):
        module = next((m for m in modules if name.startswith(m + ".")), None)
        if module is None or state == "not checked":
            continue
        status[module][state] += 1
        if state not in KILLED:
            survivors[module].append(name)
    return status, survivors


def postgres_pass(names: list[str], env: dict, max_children: int) -> int:
    """Run the mutants ``names`` again with the tests on PostgreSQL (+ Redis when TEST_REDIS_URL answers).

    One scratch database for the whole pass (``TEST_PG_DATABASE``: the children do not drop it), and
    ``CI=true`` so that an unreachable PostgreSQL fails the run instead of falling back to SQLite.
    """
    import psycopg

    database = f"tradeapp_mutmut_{os.getpid()}"
    admin_url = env.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    pg_env = {k: v for k, v in env.items() if k != "TEST_DATABASE"} | {"TEST_PG_DATABASE": database, "CI": "true"}
    command = [str(BIN / "mutmut"), "run", "--max-children", str(max_children), *names]
    print(f"$ TEST_PG_DATABASE={database} mutmut run … ({len(names)} survivors, on PostgreSQL)", flush=True)
    try:
        run = subprocess.run(command, cwd=ROOT, env=pg_env, stdout=subprocess.DEVNULL, check=False)  # noqa: S603
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    if run.returncode != 0:
        print(f"mutmut (PostgreSQL pass) exited {run.returncode}", file=sys.stderr)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
