#!/usr/bin/python3
"""scripts/demo --containers: the demo's walk-through on the runtime test bed, i.e. the chart's
rendered pods as real containers from the replagent-postgres image (README "The runtime test
bed"): install 3 pods, a write seen on every replica, /metrics and the routing endpoints,
delete pod 0 (recreated, replicas resume), scale 3 -> 1 -> 3, the backup CronJob once.
Usage (root): test/runtime/demo.py   with REPLAGENT_POSTGRES_IMAGE set (scripts/demo does it)."""

import sys
import time

import bed
from kubesim.cluster import Cluster


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def table(c):
    for p in sorted(c.pods(), key=lambda p: p.name):
        state = "Ready" if p.ready else ("Init" if not p.init_done else "NotReady")
        print(f"  {p.name:<12} {p.ip:<12} {state:<9} restarts={p.restarts()}")


def psql(c, pod, query):
    r = bed.local_psql(c, pod, query)
    return (r.stdout or r.stderr).strip()


def main():
    c = Cluster()
    try:
        say("helm template todo charts/replagent-postgres -f charts/replagent-postgres/examples/todo-db.yaml "
            "--set replicas=3 | apply: 3 pods start in parallel")
        c.apply(bed.render("todo", ["replicas=3"]))
        start = time.monotonic()
        c.wait_settled("todo-db", 300)
        print(f"  every pod Ready after {time.monotonic() - start:.0f} s")
        table(c)
        for p in ("todo-db-0", "todo-db-1", "todo-db-2"):
            msg = c.pod(p).container("init").last_exit[1].strip()
            print(f"  {p} init: {msg}")

        say("a row written on the primary appears on every replica")
        psql(c, "todo-db-0", "create table todo(id serial primary key, item text); "
                             "insert into todo(item) values ('written on todo-db-0')")
        time.sleep(1)
        for p in ("todo-db-1", "todo-db-2"):
            print(f"  {p}: {psql(c, p, 'select item from todo')}")
        print("  pg_stat_replication on todo-db-0:")
        for row in psql(c, "todo-db-0", "select application_name, client_addr, state from pg_stat_replication").splitlines():
            print("   ", row)

        say("the sidecar: /metrics (role, lag) and the routing endpoints")
        ip0, ip1 = c.pod("todo-db-0").ip, c.pod("todo-db-1").ip
        _, metrics = bed.http_get(c, ip0, 9187, "/metrics")
        for line in metrics.splitlines():
            if line.startswith(("replagent_role", "replagent_replicas_streaming", "replagent_replication_lag_bytes")):
                print("  todo-db-0", line)
        for ip, name in ((ip0, "todo-db-0"), (ip1, "todo-db-1")):
            codes = [f"{path} {bed.http_get(c, ip, 9187, path)[0]}" for path in ("/primary", "/replica", "/readyz")]
            print(f"  {name}: " + ", ".join(codes))
        print(f"  Service todo-db-rw -> {c.service_endpoints('todo-db-rw')}, todo-db-ro -> {c.service_endpoints('todo-db-ro')}")

        say("kubectl delete pod todo-db-0: recreated with its volume (no initdb), replicas resume")
        old = c.delete_pod("todo-db-0")
        old.wait_gone(150)
        c.wait_settled("todo-db", 300)
        table(c)
        print("  todo-db-0 init:", c.pod("todo-db-0").container("init").last_exit[1].strip())

        say("scale 3 -> 1 -> 3: pods 2 and 1 go, their volumes stay; they come back without a clone")
        c.scale("todo-db", 1)
        c.wait(lambda: len(c.pods()) == 1, 150, "scale-down")
        table(c)
        print("  claims kept:", ", ".join(cl for cl in c.claims() if cl.startswith("data-")))
        c.scale("todo-db", 3)
        c.wait_settled("todo-db", 300)
        table(c)

        say("kubectl create job --from=cronjob/todo-db-backup")
        job = c.run_cronjob("todo-db-backup", timeout=300)
        last = (job.log("backup").strip().splitlines() or [""])[-1]
        print("  backup:", "succeeded" if job.succeeded else "FAILED", "-", last[:300])
        return 0 if job.succeeded else 1
    except Exception as e:  # noqa: BLE001 - show what the cluster did, then fail
        print(f"demo failed: {e}\n--- events ---\n{c.events(60)}", file=sys.stderr)
        return 1
    finally:
        say("deleting the pods, namespaces and volumes")
        c.close()


if __name__ == "__main__":
    sys.exit(main())
