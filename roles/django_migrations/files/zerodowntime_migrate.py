"""Apply one phase of a Django release's migrations under a database lock.

Run with the release's own Python, from the release directory, with the
application's settings in the environment:

    venv/bin/python zerodowntime_migrate.py --phase pre --marker postdeploy

Phases (expand/contract):
  pre   every pending migration that is not a contract migration (its name
        contains the marker) and does not depend on one; applied before any
        host is drained, while the previous release still serves.
  post  every pending migration; applied once every host runs the release.
  all   the same as post.
  plan  apply nothing; report what pre and post would apply.

A PostgreSQL session-level advisory lock (pg_try_advisory_lock, polled every
0.5 s for at most --lock-timeout seconds) makes concurrent runs take turns:
the second one finds the work done. Exit status: 0 done, 2 a pre-deploy
migration depends on a contract migration, 75 the lock stayed held.
Prints one JSON object: phase, applied, deferred (names "app.migration").
"""

import argparse
import json
import sys
import time

import django


def parse_args(argv):
    parser = argparse.ArgumentParser(description="apply one phase of Django migrations")
    parser.add_argument("--phase", choices=("pre", "post", "all", "plan"), required=True)
    parser.add_argument("--marker", default="postdeploy")
    parser.add_argument("--database", default="default")
    parser.add_argument("--lock-key", type=int, default=7_204_118)
    parser.add_argument("--lock-timeout", type=float, default=120.0, help="seconds")
    return parser.parse_args(argv)


def pending_plan(connection):
    """Return the pending forward plan: a list of Migration objects in order."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    return [migration for migration, backwards in executor.migration_plan(targets) if not backwards], executor


def split_phases(plan, executor, marker):
    """Split the pending plan into (pre, deferred, errors).

    A migration is deferred when its name contains ``marker`` or when it
    depends, directly or not, on a deferred pending migration. A deferred
    migration without the marker is an error: the release asks to run it
    before its contract step.
    """
    graph = executor.loader.graph
    deferred = set()
    errors = []
    pre = []
    for migration in plan:
        key = (migration.app_label, migration.name)
        blocked_by = [dep for dep in graph.node_map[key].parents if (dep.key if hasattr(dep, "key") else dep) in deferred]
        if marker in migration.name or blocked_by:
            deferred.add(key)
            if marker not in migration.name:
                parent = blocked_by[0]
                parent = parent.key if hasattr(parent, "key") else parent
                errors.append(f"{key[0]}.{key[1]} depends on contract migration {parent[0]}.{parent[1]}")
        else:
            pre.append(migration)
    return pre, [f"{a}.{n}" for a, n in sorted(deferred)], errors


def acquire(cursor, key, timeout_s):
    """Take the advisory lock ``key``; returns True, or False after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if cursor.fetchone()[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def main(argv):
    args = parse_args(argv)
    django.setup()
    from django.core.management import call_command
    from django.db import connections

    connection = connections[args.database]
    result = {"phase": args.phase, "applied": [], "deferred": []}
    with connection.cursor() as cursor:
        if args.phase != "plan" and not acquire(cursor, args.lock_key, args.lock_timeout):
            result["error"] = f"another run held the migration lock for {args.lock_timeout} s"
            print(json.dumps(result))
            return 75
        try:
            # Read the plan only once the lock is ours: a run that waited
            # finds the other run's work done.
            plan, executor = pending_plan(connection)
            pre, deferred, errors = split_phases(plan, executor, args.marker)
            result["deferred"] = deferred
            if errors:
                result["error"] = "; ".join(errors)
                print(json.dumps(result))
                return 2
            todo = pre if args.phase in ("pre", "plan") else plan
            result["pending"] = [f"{m.app_label}.{m.name}" for m in todo]
            if args.phase == "plan":
                print(json.dumps(result))
                return 0
            last_per_app = {}
            for migration in todo:
                last_per_app[migration.app_label] = migration.name
            for app_label, name in last_per_app.items():
                call_command("migrate", app_label, name, database=args.database,
                             interactive=False, verbosity=0)
            result["applied"] = result.pop("pending")
            if args.phase != "pre":
                result["deferred"] = []
        finally:
            if args.phase != "plan":
                cursor.execute("SELECT pg_advisory_unlock(%s)", [args.lock_key])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
