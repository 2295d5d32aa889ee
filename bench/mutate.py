"""Mutation score of the money modules: mutmut, then killed / survived per module.

    .venv/bin/python bench/mutate.py                 # the four modules of [tool.mutmut] only_mutate
    .venv/bin/python bench/mutate.py fills ledger    # some of them (short names)

mutmut (configured in pyproject.toml's [tool.mutmut]) copies tradeapp/ into mutants/, mutates
the modules, runs the test selection once to learn which tests reach which function, then runs
each mutant against only those tests. A mutant is killed when a test fails (or times out). The
tests run on SQLite + fakeredis: one child at a time, since they share the run's test database.
Survivors are printed with their diff; the target is >= 90 % killed per module, every survivor
left standing being equivalent (see bench/README.md). Not part of CI: it takes minutes per module.
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
    args = parser.parse_args()
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODULES)}")
    modules = [MODULES[m] for m in args.modules or MODULES]
    env = {**os.environ, "TEST_DATABASE": "sqlite"}
    if not args.report_only:
        command = [str(BIN / "mutmut"), "run", "--max-children", str(args.max_children), *(f"{m}.*" for m in modules)]
        print("$", " ".join(command), flush=True)
        run = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)  # noqa: S603
        if run.returncode != 0:
            print(f"mutmut exited {run.returncode}", file=sys.stderr)
            return run.returncode
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
    failed = False
    print(f"\n{'module':40} {'mutants':>8} {'killed':>8} {'survived':>9} {'no tests':>9} {'score':>7}")
    for module in modules:
        counts = status[module]
        total = sum(counts.values())
        killed = sum(counts[s] for s in KILLED)
        score = killed / total if total else 0.0
        failed |= score < TARGET
        print(
            f"{module:40} {total:8} {killed:8} {counts['survived']:9} {counts['no tests']:9} {score:7.1%}"
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


if __name__ == "__main__":
    sys.exit(main())
