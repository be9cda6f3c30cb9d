"""The Kubernetes base and the n8n workflow hold together: every file kustomize lists exists, every service
runs a module that exists with gRPC probes, Envoy balances every gRPC service, and settings are real ones."""

import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml

from services.common.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
GRPC_SERVICES = {"router": 50051, "scheduler": 50052, "runlog": 50053, "toolworker": 50054}


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        docs += [doc for doc in yaml.safe_load_all((K8S / resource).read_text()) if doc]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names |= set(alias.choices) if alias is not None else {f"AGENTMESH_{name.upper()}"}  # type: ignore[union-attr]
    return names


def test_every_grpc_service_runs_its_module_with_grpc_probes_and_a_graceful_stop() -> None:
    deployments = by_kind("Deployment")
    for name, port in GRPC_SERVICES.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert importlib.util.find_spec(container["args"][0]) is not None
        assert container["readinessProbe"]["grpc"]["port"] == port
        assert container["livenessProbe"]["grpc"]["port"] == port
        assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
        assert pod["terminationGracePeriodSeconds"] > 20 + 5  # the ConfigMap's grace + the preStop pause
        assert {"name": f"AGENTMESH_{name.upper()}_ADDR", "value": f"0.0.0.0:{port}"} in container["env"]
        assert by_kind("Service")[name]["spec"]["clusterIP"] == "None"  # headless, for Envoy's DNS


def test_envoy_balances_each_grpc_service_over_http2_and_callers_go_through_it() -> None:
    envoy = yaml.safe_load(by_kind("ConfigMap")["envoy-config"]["data"]["envoy.yaml"])
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    config = by_kind("ConfigMap")["agentmesh-config"]["data"]
    for name, port in GRPC_SERVICES.items():
        cluster = clusters[name]
        assert cluster["type"] == "STRICT_DNS" and cluster["lb_policy"] == "ROUND_ROBIN"
        options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in options["explicit_http_config"]
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        assert address["socket_address"] == {"address": f"{name}.agentmesh.svc.cluster.local", "port_value": port}
        assert config[f"AGENTMESH_{name.upper()}_ADDR"] == f"envoy:{port}"


def test_configuration_names_only_real_settings_and_hpas_target_scheduler_and_toolworker() -> None:
    known = setting_names()
    config = by_kind("ConfigMap")["agentmesh-config"]["data"]
    secret = by_kind("Secret")["agentmesh-secrets"]["stringData"]
    assert set(config) | set(secret) <= known, (set(config) | set(secret)) - known
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in by_kind("HorizontalPodAutoscaler").values()}
    assert targets == {"scheduler", "toolworker"}


def test_n8n_workflow_calls_the_gateway_with_the_api_key_header_and_is_fully_connected() -> None:
    workflow = json.loads((ROOT / "deploy" / "n8n" / "lead-workflow.json").read_text())
    assert workflow["id"]
    names = {node["name"] for node in workflow["nodes"]}
    calls = [node for node in workflow["nodes"] if node["type"] == "n8n-nodes-base.httpRequest"]
    assert {"/v1/agents/research_agent/turns", "/v1/agents/lead_agent/turns"} <= {
        node["parameters"]["url"].split("}}")[-1] for node in calls
    }
    for node in calls:
        headers = node["parameters"]["headerParameters"]["parameters"]
        assert {"name": "X-API-Key", "value": "={{ $env.AGENTMESH_API_KEY }}"} in headers
    targets = {t["node"] for outs in workflow["connections"].values() for group in outs["main"] for t in group}
    assert set(workflow["connections"]) <= names and targets <= names
    triggers = {n["name"] for n in workflow["nodes"] if n["type"].endswith(("manualTrigger", "webhook"))}
    assert names - targets == triggers  # every other node is reached
