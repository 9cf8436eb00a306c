"""Checks of docker/ that no schema or linter makes: what the deployment must say.

Run by scripts/validate-docker with the venv's python (ruamel.yaml comes with
check-jsonschema). Exits non-zero, naming every failed check.
"""

import json
import pathlib
import re
import sys
import tomllib

from ruamel.yaml import YAML

DOCKER = pathlib.Path(__file__).resolve().parent
STORE = "esdb://node1:2113,node2:2113,node3:2113?tls=false&nodePreference=leader"
NODES = ["node1", "node2", "node3"]

failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


compose = YAML(typ="safe").load((DOCKER / "compose.yaml").read_text())
services = compose["services"]
for node in NODES:
    service = services.get(node, {})
    env = service.get("environment", {})
    check(str(service.get("image", "")).startswith("eventstore/eventstore:"), f"{node} runs the official EventStoreDB image")
    check(env.get("EVENTSTORE_CLUSTER_SIZE") == "3", f"{node} is one of a cluster of 3")
    check(env.get("EVENTSTORE_INSECURE") == "true", f"{node} runs insecure (local use)")
    seeds = set(env.get("EVENTSTORE_GOSSIP_SEED", "").split(","))
    others = {f"{other}:2113" for other in NODES if other != node}
    check(seeds == others, f"{node} gossips with the two other nodes ({sorted(seeds)})")
    check(env.get("EVENTSTORE_ADVERTISE_HOST_TO_CLIENT_AS") == node, f"{node} advertises a name clients can resolve")

packhooks = services.get("packhooks", {})
check(packhooks.get("environment", {}).get("PACKHOOKS_STORE") == STORE, "packhooks points at the three nodes, leader preferred")
depends = packhooks.get("depends_on", {})
check(all(depends.get(n, {}).get("condition") == "service_healthy" for n in NODES), "packhooks waits for healthy nodes")
build = packhooks.get("build", {})
check((DOCKER / build.get("context", "") / build.get("dockerfile", "")).resolve() == DOCKER / "Dockerfile", "packhooks builds docker/Dockerfile")
check(any(str(v).endswith(":/data") for v in packhooks.get("volumes", [])), "packhooks keeps /data on a volume")

# Monitoring: Prometheus scrapes packhooks with a token packhooks gives the ops role, and
# Grafana provisions the dashboard on that Prometheus.
prometheus_config = YAML(typ="safe").load((DOCKER / "prometheus" / "prometheus.yml").read_text())
jobs = {job["job_name"]: job for job in prometheus_config.get("scrape_configs", [])}
job = jobs.get("packhooks", {})
targets = [t for static in job.get("static_configs", []) for t in static.get("targets", [])]
check(targets == ["packhooks:8080"] and job.get("metrics_path") == "/metrics", "Prometheus scrapes packhooks:8080/metrics")
token_file = DOCKER / "prometheus" / job.get("authorization", {}).get("credentials_file", "missing")
scrape_token = token_file.read_text().strip() if token_file.is_file() else None
command = packhooks.get("command", [])
check(command[:2] == ["serve", "--config"] and f"./packhooks.toml:{command[2]}:ro" in packhooks.get("volumes", []), "packhooks reads docker/packhooks.toml")
extra_tokens = tomllib.loads((DOCKER / "packhooks.toml").read_text()).get("api", {}).get("tokens", [])
check(any(t.get("token") == scrape_token and "ops" in t.get("roles", []) for t in extra_tokens), "Prometheus' token has the ops role in packhooks.toml")
check("./prometheus:/etc/prometheus:ro" in services.get("prometheus", {}).get("volumes", []), "Prometheus gets the scrape config and alert rules")
grafana_volumes = services.get("grafana", {}).get("volumes", [])
check("./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_volumes, "Grafana provisions from docker/grafana/provisioning")
provider = YAML(typ="safe").load((DOCKER / "grafana" / "provisioning" / "dashboards" / "packhooks.yml").read_text())
dashboards_path = provider["providers"][0]["options"]["path"]
check(f"./grafana/dashboards:{dashboards_path}:ro" in grafana_volumes, "the dashboards provider reads the mounted dashboards")
dashboard = json.loads((DOCKER / "grafana" / "dashboards" / "packhooks.json").read_text())
datasources = YAML(typ="safe").load((DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
uids = {d["uid"] for d in datasources["datasources"]}
check(all(t["datasource"]["uid"] in uids for p in dashboard["panels"] for t in p["targets"]), "every panel queries the provisioned Prometheus")

dockerfile = (DOCKER / "Dockerfile").read_text()
stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
check(len(stages) >= 2, f"the Dockerfile is multi-stage ({stages})")
check(stages[-1].startswith(("debian:bookworm-slim", "gcr.io/distroless/cc")), f"the runtime image is small ({stages[-1]})")
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
check(bool(users) and users[-1].split(":")[0] not in ("0", "root"), f"the image runs as a non-root user ({users})")
check(re.search(r"^HEALTHCHECK .*(\n\s+.*)*?/healthz", dockerfile, re.M) is not None, "the image's health check calls /healthz")
check(re.search(r'^VOLUME \["/data"\]', dockerfile, re.M) is not None, "the data directory is a volume")
check("PACKHOOKS_DATA_DIR=/data" in dockerfile, "the data directory setting points at the volume")

if failures:
    print(f"{len(failures)} deployment check(s) failed", file=sys.stderr)
    sys.exit(1)
