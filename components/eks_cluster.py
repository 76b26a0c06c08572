"""The regional EKS cluster: private API endpoint, encrypted secrets and logs, IRSA, access entries, pinned EKS
add-ons, least-privilege security groups, its system node pool, and a Kubernetes provider that names the region."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam_documents
from components.capacity import PoolSize
from components.eks_versions import DEFAULT_KUBERNETES_VERSION, release
from components.kms_key import KmsKey, KmsKeyArgs, ServiceGrant
from components.node_bootstrap import kubeconfig
from components.node_launch import managed_policy_arn
from components.system_node_pool import SystemNodePool, SystemNodePoolArgs
from components.toolkit import ClusterIdentity, RegionEnv, encrypted_log_group, irsa_role

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# Ports the control plane opens on nodes: kubelet, and the usual admission-webhook ports.
CONTROL_PLANE_TO_NODE_PORTS = (443, 4443, 6443, 8443, 9443, 10250)


@dataclass(frozen=True)
class ClusterRef:
    """What node pools and in-cluster add-ons need to know about a cluster."""

    name: pulumi.Output[str]
    kubernetes_version: str
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    service_cidr: str
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    node_volume_key_arn: pulumi.Output[str]
    kubernetes_provider: k8s.Provider


@dataclass(frozen=True, kw_only=True)
class EksClusterArgs:
    cluster_name: str
    env: RegionEnv
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # private subnets: control-plane ENIs and nodes
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    endpoint_public_access: bool = False
    public_access_cidrs: Sequence[str] = ()
    log_retention_days: int = 90
    admin_principal_arns: Sequence[str] = ()
    service_ipv4_cidr: str = "172.20.0.0/16"
    deletion_protection: bool = True
    system_instance_types: Sequence[str] = ("m6i.large", "m7i.large")
    system_size: PoolSize = field(default_factory=lambda: PoolSize(min_size=2, desired_size=3, max_size=6))
    system_disk_size_gib: int = 50


class EksCluster(pulumi.ComponentResource):
    """One EKS cluster per regional stack. Its API is private unless a CIDR allowlist opens it; authentication is
    through EKS access entries only (no aws-auth ConfigMap)."""

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:EksCluster", name, None, opts)
        if args.endpoint_public_access and not args.public_access_cidrs:
            raise ValueError(f"{name}: a public EKS endpoint needs a CIDR allowlist (public_access_cidrs)")
        if any(cidr.endswith("/0") for cidr in args.public_access_cidrs):
            raise ValueError(f"{name}: public_access_cidrs may not open the endpoint to the internet")
        child = pulumi.ResourceOptions(parent=self)
        env = args.env
        tags = dict(env.tags)
        pins = release(args.kubernetes_version)
        partition = pulumi.Output.from_input(env.partition)

        def managed_policy(policy: str) -> pulumi.Output[str]:
            return managed_policy_arn(env.partition, policy)

        secrets_key = KmsKey(
            f"{name}-secrets-key",
            KmsKeyArgs.for_env(env, description=f"Envelope encryption of Kubernetes secrets in {args.cluster_name}"),
            opts=child,
        )
        log_group = self._log_group(name, args)
        volume_key = KmsKey(
            f"{name}-volumes-key",
            KmsKeyArgs.for_env(
                env,
                description=f"EBS volumes of {args.cluster_name}'s nodes and persistent volumes",
                service_grants=[
                    # As the AWS-managed aws/ebs key: any principal of this account, only through EC2 in this region
                    # (Auto Scaling's service-linked role launches the nodes with it).
                    ServiceGrant(
                        principal="*",
                        principal_type="AWS",
                        actions=(
                            "kms:Encrypt",
                            "kms:Decrypt",
                            "kms:ReEncrypt*",
                            "kms:GenerateDataKey*",
                            "kms:CreateGrant",
                            "kms:DescribeKey",
                        ),
                        condition=pulumi.Output.from_input(env.account_id).apply(
                            lambda account: {
                                "StringEquals": {
                                    "kms:CallerAccount": account,
                                    "kms:ViaService": f"ec2.{env.region}.amazonaws.com",
                                }
                            }
                        ),
                    )
                ],
            ),
            opts=child,
        )

        role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=iam_documents.service_trust("eks.amazonaws.com"),
            description=f"The EKS service role of {args.cluster_name}",
            tags={**tags, "Name": f"{name}-cluster-role"},
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=role.name, policy_arn=managed_policy("AmazonEKSClusterPolicy"), opts=child
        )
        encryption_policy = aws.iam.RolePolicy(
            f"{name}-cluster-encryption",
            role=role.id,
            policy=secrets_key.arn.apply(iam_documents.cluster_encryption),
            opts=child,
        )

        cluster_sg, node_sg = self._security_groups(name, args, tags)
        self.cluster = aws.eks.Cluster(
            name,
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                security_group_ids=[cluster_sg.id],
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public_access,
                public_access_cidrs=list(args.public_access_cidrs) if args.endpoint_public_access else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # The identity running `pulumi up` installs the in-cluster add-ons below, so it needs admin.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                ip_family="ipv4", service_ipv4_cidr=args.service_ipv4_cidr
            ),
            # The add-ons are managed below, at pinned versions; EKS's unmanaged defaults would fight them.
            bootstrap_self_managed_addons=False,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),  # no 6x extended-support fee
            deletion_protection=args.deletion_protection,
            tags={**tags, "Name": args.cluster_name},
            # The log group must exist first, or EKS creates an unencrypted one that never expires.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, cluster_policy, encryption_policy]),
        )
        cluster = self.cluster
        issuer: pulumi.Output[str] = cluster.identities.apply(
            lambda ids: (ids[0].oidcs[0].issuer or "") if ids and ids[0].oidcs else ""
        )
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags={**tags, "Name": f"{name}-oidc"},
            opts=child,
        )
        for index, principal in enumerate(args.admin_principal_arns):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{index}", cluster_name=cluster.name, principal_arn=principal, type="STANDARD", opts=child
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{index}-policy",
                cluster_name=cluster.name,
                principal_arn=principal,
                policy_arn=partition.apply(
                    lambda p: f"arn:{p}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
                ),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
            )

        identity = ClusterIdentity(oidc_provider_arn=self.oidc_provider.arn, oidc_issuer_url=issuer)

        def controller_role(
            suffix: str, service_account: str, managed: str, policy: pulumi.Input[str] | None = None
        ) -> aws.iam.Role:
            return irsa_role(
                f"{name}-{suffix}-irsa",
                cluster=identity,
                namespace="kube-system",
                service_account=service_account,
                env=env,
                purpose=f"the {suffix} add-on of {args.cluster_name}",
                policy=policy,
                managed_policy_arns=[managed_policy(managed)],
                kind="controller",
                former_policy_name=f"{name}-{suffix}-irsa-key" if policy is not None else None,
                opts=child,
            )

        def addon(
            addon_name: str,
            role: aws.iam.Role | None = None,
            after: Sequence[pulumi.Resource] = (),
            configuration: Mapping[str, object] | None = None,
        ) -> aws.eks.Addon:
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=pins.addons[addon_name],
                service_account_role_arn=role.arn if role is not None else None,
                configuration_values=json.dumps(configuration) if configuration else None,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
            )

        # Networking comes before any node can become Ready; CoreDNS and the EBS driver need nodes to run on.
        vpc_cni = addon("vpc-cni", controller_role("vpc-cni", "aws-node", "AmazonEKS_CNI_Policy"))
        kube_proxy = addon("kube-proxy")
        self.system_pool = SystemNodePool(
            f"{name}-system",
            SystemNodePoolArgs(
                cluster_name=cluster.name,
                kubernetes_version=args.kubernetes_version,
                subnet_ids=args.subnet_ids,
                node_security_group_id=node_sg.id,
                volume_key_arn=volume_key.arn,
                env=env,
                instance_types=args.system_instance_types,
                size=args.system_size,
                disk_size_gib=args.system_disk_size_gib,
                wait_for=[vpc_cni, kube_proxy],
            ),
            opts=child,
        )
        addon("coredns", after=[self.system_pool])
        ebs_role = controller_role(
            "ebs-csi",
            "ebs-csi-controller-sa",
            "service-role/AmazonEBSCSIDriverPolicy",
            policy=volume_key.arn.apply(iam_documents.ebs_csi_key_use),
        )
        # Its node plugin must reach the tainted GPU nodes too, or their pods' volumes never mount.
        addon("aws-ebs-csi-driver", ebs_role, [self.system_pool], {"node": {"tolerateAllTaints": True}})

        self.kubeconfig = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
            lambda v: kubeconfig(cluster_name=v[0], endpoint=v[1], certificate_authority=v[2] or "", region=env.region)
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_pool]),
        )

        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.oidc_provider_arn = self.oidc_provider.arn
        self.node_security_group_id = node_sg.id
        self.system_node_role_arn = self.system_pool.node_role_arn
        self.ref = ClusterRef(
            name=cluster.name,
            kubernetes_version=args.kubernetes_version,
            endpoint=cluster.endpoint,
            certificate_authority=cluster.certificate_authority.apply(lambda ca: ca.data or ""),
            service_cidr=args.service_ipv4_cidr,
            oidc_provider_arn=self.oidc_provider.arn,
            oidc_issuer_url=issuer,
            node_security_group_id=node_sg.id,
            node_volume_key_arn=volume_key.arn,
            kubernetes_provider=self.provider,
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "oidc_provider_arn": self.oidc_provider_arn,
                "node_security_group_id": self.node_security_group_id,
                "system_node_role_arn": self.system_node_role_arn,
            }
        )

    def _log_group(self, name: str, args: EksClusterArgs) -> aws.cloudwatch.LogGroup:
        """EKS writes control-plane logs to exactly this name; creating it first sets the key and retention."""
        return encrypted_log_group(
            f"{name}-logs",
            log_group=f"/aws/eks/{args.cluster_name}/cluster",
            env=args.env,
            retention_days=args.log_retention_days,
            description=f"Control-plane logs of {args.cluster_name}",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _security_groups(
        self, name: str, args: EksClusterArgs, tags: Mapping[str, str]
    ) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        """The control plane takes HTTPS from nodes only; nodes take the control plane's kubelet and webhook calls,
        DNS and high ports from each other, and nothing from anywhere else."""
        child = pulumi.ResourceOptions(parent=self)
        cluster_sg = aws.ec2.SecurityGroup(
            f"{name}-cluster-sg",
            vpc_id=args.vpc_id,
            description=f"EKS control plane of {args.cluster_name}: HTTPS from its nodes",
            tags={**tags, "Name": f"{name}-cluster-sg"},
            opts=child,
        )
        node_sg = aws.ec2.SecurityGroup(
            f"{name}-node-sg",
            vpc_id=args.vpc_id,
            description=f"Nodes of {args.cluster_name}",
            tags={**tags, "Name": f"{name}-node-sg", f"kubernetes.io/cluster/{args.cluster_name}": "owned"},
            opts=child,
        )

        def ingress(
            rule: str,
            group: aws.ec2.SecurityGroup,
            source: aws.ec2.SecurityGroup,
            *,
            protocol: str,
            ports: tuple[int, int],
            description: str,
        ) -> None:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{rule}",
                security_group_id=group.id,
                referenced_security_group_id=source.id,
                ip_protocol=protocol,
                from_port=ports[0],
                to_port=ports[1],
                description=description,
                opts=child,
            )

        ingress("cluster-from-nodes-443", cluster_sg, node_sg, protocol="tcp", ports=(443, 443),
                description="Nodes to the Kubernetes API")  # fmt: skip
        for port in CONTROL_PLANE_TO_NODE_PORTS:
            what = "kubelet" if port == 10250 else "admission webhooks"
            ingress(f"nodes-from-cluster-{port}", node_sg, cluster_sg, protocol="tcp", ports=(port, port),
                    description=f"Control plane: {what}")  # fmt: skip
        for protocol in ("tcp", "udp"):
            ingress(f"nodes-dns-{protocol}", node_sg, node_sg, protocol=protocol, ports=(53, 53),
                    description="CoreDNS between nodes")  # fmt: skip
        ingress("nodes-ephemeral", node_sg, node_sg, protocol="tcp", ports=(1025, 65535),
                description="Pods and NCCL between nodes")  # fmt: skip
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-nodes-egress",
            security_group_id=node_sg.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="-1",
            description="Nodes reach AWS APIs, registries and each other (through NAT and endpoints)",
            opts=child,
        )
        return cluster_sg, node_sg
