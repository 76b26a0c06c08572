"""Metrics, alerts, dashboards and logs of a regional cluster: kube-prometheus-stack (Prometheus, Alertmanager,
Grafana, kube-state-metrics, node-exporter) with retention and a gp3 volume from config, remote write to an
Amazon Managed Service for Prometheus workspace through an IRSA role that may only `aps:RemoteWrite` there, the
DCGM exporter on the GPU nodes, the Pushgateway the drift CronJob pushes to, the alert matrix as a
PrometheusRule, the Grafana dashboards of `components/dashboards/` as ConfigMaps, and CloudWatch log groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import alert_rules, pod_specs
from components.config import ObservabilityConfig
from components.eks_cluster import ClusterRef
from components.iam_documents import document
from components.kms_key import KmsKey, KmsKeyArgs, ServiceGrant
from components.toolkit import RegionEnv, helm_release, irsa_role, logs_grant

NAMESPACE = "monitoring"
PROMETHEUS_RELEASE = "kube-prometheus-stack"
PROMETHEUS_SERVICE_ACCOUNT = "kube-prometheus-stack-prometheus"
PUSHGATEWAY_RELEASE = "prometheus-pushgateway"
PUSHGATEWAY_URL = f"http://{PUSHGATEWAY_RELEASE}.{NAMESPACE}.svc.cluster.local:9091"
DASHBOARDS_DIR = Path(__file__).parent / "dashboards"
DASHBOARD_LABEL = "grafana_dashboard"  # the kube-prometheus-stack Grafana sidecar's default label
LOG_GROUPS = ("application", "dataplane", "host")


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs:
    cluster: ClusterRef
    env: RegionEnv
    settings: ObservabilityConfig
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})


def remote_write_policy(workspace_arn: str) -> str:
    return document(
        [{"Sid": "RemoteWriteOnly", "Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": workspace_arn}]
    )


def dashboards() -> dict[str, str]:
    """File name -> Grafana dashboard JSON, as kept in the repository."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def thresholds(settings: ObservabilityConfig) -> alert_rules.Thresholds:
    return alert_rules.Thresholds(
        error_rate=settings.error_rate_threshold,
        p99_latency_seconds=settings.p99_latency_seconds,
        psi=settings.psi_threshold,
        gpu_utilisation=settings.gpu_utilisation_floor,
        spot_interruptions_per_hour=settings.spot_interruptions_per_hour,
    )


class Observability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:Observability", name, None, opts)
        self._name, self._args = name, args
        settings, cluster, env = args.settings, args.cluster, args.env
        child = pulumi.ResourceOptions(parent=self)
        self.on_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider)
        cluster_name = f"{name}"
        log_group_names = [f"/mlplat/{cluster_name}/{kind}" for kind in LOG_GROUPS]
        self.key = KmsKey(
            f"{name}-obs-key",
            KmsKeyArgs.for_env(
                env,
                description=f"{name}: Managed Prometheus workspace and the platform's log groups",
                service_grants=[
                    logs_grant(env, f"/mlplat/{cluster_name}/*"),
                    ServiceGrant(
                        principal="aps.amazonaws.com",
                        condition=pulumi.Output.from_input(env.account_id).apply(
                            lambda account: {"StringEquals": {"aws:SourceAccount": account}}
                        ),
                    ),
                ],
            ),
            opts=child,
        )
        self.log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-logs-{kind}",
                name=group,
                retention_in_days=settings.log_retention_days,
                kms_key_id=self.key.arn,
                tags={**env.tags, "Name": group},
                opts=child,
            )
            for kind, group in zip(LOG_GROUPS, log_group_names, strict=True)
        ]
        self.workspace = aws.amp.Workspace(
            f"{name}-amp",
            alias=f"mlplat-{name}",
            kms_key_arn=self.key.arn,
            tags={**env.tags, "Name": f"mlplat-{name}"},
            opts=child,
        )
        self.remote_write_role = irsa_role(
            f"{name}-amp-remote-write",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=PROMETHEUS_SERVICE_ACCOUNT,
            env=env,
            purpose="remote write to one AMP workspace",
            policy=self.workspace.arn.apply(remote_write_policy),
            role_name=f"mlplat-{name}-amp-remote-write",
            opts=child,
        )
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-monitoring-ns",
            metadata={"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
            opts=self.on_cluster,
        )
        self.stack = self._chart(PROMETHEUS_RELEASE, self._prometheus_values())
        after_stack = pulumi.ResourceOptions(
            parent=self, provider=cluster.kubernetes_provider, depends_on=[self.namespace, self.stack]
        )
        self.pushgateway = self._chart(
            PUSHGATEWAY_RELEASE,
            {
                "serviceMonitor": {"enabled": True, "namespace": NAMESPACE},
                "nodeSelector": dict(args.system_node_selector),
                "securityContext": pod_specs.pod_security_context(),
                "containerSecurityContext": pod_specs.container_security_context(),
            },
            after=after_stack,
        )
        self.dcgm = self._chart(
            "dcgm-exporter",
            {
                "serviceMonitor": {"enabled": True, "interval": "15s"},
                "nodeSelector": {"nvidia.com/gpu.present": "true"},
                "tolerations": [pod_specs.gpu_toleration()],
                "priorityClassName": "system-node-critical",
            },
            after=after_stack,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": "mlplat-alerts", "namespace": NAMESPACE, "labels": {"release": PROMETHEUS_RELEASE}},
            spec={"groups": alert_rules.rule_groups(thresholds(settings))},
            opts=after_stack,
        )
        for file_name, body in dashboards().items():
            stem = file_name.removesuffix(".json")
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata={
                    "name": f"mlplat-dashboard-{stem}",
                    "namespace": NAMESPACE,
                    "labels": {DASHBOARD_LABEL: "1"},
                    "annotations": {"grafana_folder": "mlplat"},
                },
                data={file_name: body},
                opts=pulumi.ResourceOptions(
                    parent=self, provider=cluster.kubernetes_provider, depends_on=[self.namespace]
                ),
            )
        self.pushgateway_url = PUSHGATEWAY_URL
        self.register_outputs(
            {
                "amp_workspace_arn": self.workspace.arn,
                "amp_remote_write_role_arn": self.remote_write_role.arn,
                "log_groups": log_group_names,
                "pushgateway_url": self.pushgateway_url,
            }
        )

    def _chart(
        self, key: str, values: pulumi.Input[dict], after: pulumi.ResourceOptions | None = None
    ) -> k8s.helm.v3.Release:
        opts = after or pulumi.ResourceOptions(
            parent=self, provider=self._args.cluster.kubernetes_provider, depends_on=[self.namespace]
        )
        return helm_release(f"{self._name}-{key}", key, namespace=NAMESPACE, values=values, opts=opts)

    def _prometheus_values(self) -> dict:
        args, settings = self._args, self._args.settings
        system = dict(args.system_node_selector)
        remote_write_url = self.workspace.prometheus_endpoint.apply(lambda e: f"{e.rstrip('/')}/api/v1/remote_write")
        return {
            "prometheus": {
                "serviceAccount": {
                    "create": True,
                    "name": PROMETHEUS_SERVICE_ACCOUNT,
                    "annotations": pod_specs.irsa_annotations(self.remote_write_role.arn),
                },
                "prometheusSpec": {
                    "retention": f"{settings.retention_days}d",
                    "retentionSize": f"{int(settings.storage_gib * 0.9)}GB",
                    "storageSpec": {
                        "volumeClaimTemplate": {
                            "spec": {
                                "storageClassName": "gp3",
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": f"{settings.storage_gib}Gi"}},
                            }
                        }
                    },
                    "remoteWrite": [
                        {
                            "url": remote_write_url,
                            "sigv4": {"region": args.env.region},
                            "queueConfig": {"maxSamplesPerSend": 1000, "maxShards": 200, "capacity": 2500},
                        }
                    ],
                    "externalLabels": {"region": args.env.region, "cluster": self._name},
                    # pick up every ServiceMonitor / PrometheusRule, not only those labelled with the release
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "nodeSelector": system,
                    "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "8Gi"}},
                },
            },
            "alertmanager": {"alertmanagerSpec": {"nodeSelector": system}},
            "grafana": {
                "nodeSelector": system,
                "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "searchNamespace": "ALL"}},
            },
            "kube-state-metrics": {
                "nodeSelector": system,
                "metricLabelsAllowlist": [
                    "nodes=[mlplat/pool,mlplat/purpose,node.kubernetes.io/instance-type,"
                    "node.kubernetes.io/capacity-type,topology.kubernetes.io/zone]"
                ],
            },
            "prometheusOperator": {"nodeSelector": system},
            "prometheus-node-exporter": {"tolerations": [pod_specs.gpu_toleration()]},
        }
