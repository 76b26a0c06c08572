"""The mock harness: runs the real stack program under `pulumi.runtime.set_mocks` and records the resource graph.

No Pulumi CLI, engine or cloud is involved. Every resource is recorded with its type, name, region (from the
v7 per-resource `region` input, else its explicit provider), parent and inputs, as `mlplat.graph/v1` JSON.
Each stack runs in a fresh interpreter (`python -m mlplat.synth STACK OUT`) so stacks never share SDK state.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.naming import region_code
from mlplat.graph import GRAPH_SCHEMA, Graph, Resource, load_graph, provider_inputs

__all__ = ["GRAPH_SCHEMA", "MOCK_ACCOUNT_ID", "GraphRecorder", "SynthError", "run_under_mocks", "synthesize"]

MOCK_ACCOUNT_ID = "123456789012"
MOCK_ORGANIZATION = "organization"  # what a self-managed backend reports as the organization
STACK_REFERENCE = "pulumi:pulumi:StackReference"
EXIT_CONFIG = 2


class SynthError(RuntimeError):
    """The program could not be synthesized; the message names the stack and the cause."""


def _plain(value: Any) -> Any:
    """Mock inputs carry numbers as floats (24.0); integral ones become ints so the graph reads as written."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _service_of(type_token: str) -> str:
    # aws:ec2/vpc:Vpc -> ec2
    return type_token.split(":")[1].split("/", maxsplit=1)[0] if ":" in type_token else "unknown"


def _node_pool_state(typ: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """Outputs of the EKS, node pool and interruption-queue resources that other resources read."""
    own = inputs.get("name", name)
    issuer = str(inputs.get("url", "")).removeprefix("https://")
    group = f"autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/{own}"
    states: dict[str, dict[str, Any]] = {
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": {
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:oidc-provider/{issuer}"
        },
        "aws:iam/instanceProfile:InstanceProfile": {
            "name": own,
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:instance-profile/{own}",
        },
        "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1, "defaultVersion": 1},
        "aws:autoscaling/group:Group": {"name": own, "arn": f"arn:aws:autoscaling:{region}:{MOCK_ACCOUNT_ID}:{group}"},
        "aws:sqs/queue:Queue": {
            "name": own,
            "arn": f"arn:aws:sqs:{region}:{MOCK_ACCOUNT_ID}:{own}",
            "url": f"https://sqs.{region}.amazonaws.com/{MOCK_ACCOUNT_ID}/{own}",
        },
        "aws:cloudwatch/eventRule:EventRule": {
            "name": own,
            "arn": f"arn:aws:events:{region}:{MOCK_ACCOUNT_ID}:rule/{own}",
        },
        "aws:eks/nodeGroup:NodeGroup": {"nodeGroupName": inputs.get("nodeGroupName", name)},
    }
    return states.get(typ, {})


def _traffic_state(typ: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """Outputs of the traffic-entry and registry-access resources (certificates, load balancers, DNS, PrivateLink)
    which other resources read."""
    state: dict[str, Any] = {}
    if typ == "aws:acm/certificate:Certificate":
        names = [inputs.get("domainName", name), *(inputs.get("subjectAlternativeNames") or [])]
        state["domainValidationOptions"] = [
            {
                "domainName": n,
                "resourceRecordName": f"_mock.{n}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": "_mock.acm-validations.aws.",
            }
            for n in names
        ]
    elif typ == "aws:lb/loadBalancer:LoadBalancer":
        kind = "net" if inputs.get("loadBalancerType") == "network" else "app"
        lb_name = inputs.get("name", name)
        state["arn"] = f"arn:aws:elasticloadbalancing:{region}:{MOCK_ACCOUNT_ID}:loadbalancer/{kind}/{lb_name}/mock"
        state["arnSuffix"] = f"{kind}/{lb_name}/mock"
        state["dnsName"] = f"{lb_name}-mock.{region}.elb.amazonaws.com"
        state["zoneId"] = "Z0MOCKELB"
    elif typ == "aws:lb/targetGroup:TargetGroup":
        tg_name = inputs.get("name", name)
        state["arn"] = f"arn:aws:elasticloadbalancing:{region}:{MOCK_ACCOUNT_ID}:targetgroup/{tg_name}/mock"
        state["arnSuffix"] = f"targetgroup/{tg_name}/mock"
    elif typ == "aws:ec2/vpcEndpointService:VpcEndpointService":
        state["serviceName"] = f"com.amazonaws.vpce.{region}.vpce-svc-{name}"
    elif typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
        state["dnsEntries"] = [{"dnsName": f"vpce-{name}.vpce-svc.{region}.vpce.amazonaws.com", "hostedZoneId": "Z0"}]
    elif typ == "aws:route53/zone:Zone":
        state["zoneId"] = f"Z{name.upper().replace('-', '')[:20]}"
        state["nameServers"] = ["ns-1.awsdns-mock.org"]
    elif typ == "aws:route53/record:Record":
        state["fqdn"] = inputs.get("name", name)
    return state


@dataclass
class _Recorded:
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    provider_ref: str


class GraphRecorder:
    """Pulumi mocks that answer like AWS would, closely enough for the program's outputs to compose."""

    def __init__(self, stack: str, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.stack = stack
        self.stack_outputs = dict(stack_outputs or {})  # `org/project/stack` -> the outputs a StackReference reads
        self.aliases: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.resources: list[_Recorded] = []
        self.providers: dict[str, dict[str, Any]] = {}  # provider name -> inputs
        self.parents: dict[tuple[str, str], str] = {}
        self.depends_on: dict[tuple[str, str], list[str]] = {}  # explicit depends_on, as `type::name`
        self.components: list[tuple[str, str]] = []
        self.invokes: list[dict[str, Any]] = []  # data-source calls: token, args, provider

    # -- pulumi.runtime.Mocks protocol -------------------------------------------------------------------
    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        inputs = _plain(dict(args.inputs))
        resource_id = f"{args.name}-id"
        if args.typ.startswith("pulumi:providers:"):
            inputs = provider_inputs(inputs)
            self.providers[args.name] = inputs
        self.resources.append(_Recorded(args.typ, args.name, bool(args.custom), inputs, args.provider or ""))
        if args.typ == STACK_REFERENCE:
            return resource_id, self._stack_reference_state(str(inputs.get("name", args.name)))
        return resource_id, self._state(args.typ, args.name, inputs, self._region_hint(inputs, args.provider))

    def _stack_reference_state(self, reference: str) -> dict[str, Any]:
        """A StackReference reads the referenced stack's outputs; under mocks, the plausible ones given here."""
        short = reference.rsplit("/", 1)[-1]
        outputs = self.stack_outputs.get(reference, self.stack_outputs.get(short))
        if outputs is None:
            raise SynthError(f"stack {self.stack}: StackReference to {reference!r}, a stack this project lacks")
        return {"name": reference, "outputs": dict(outputs), "secretOutputNames": []}

    def call(self, args: Any) -> dict[str, Any]:
        function = args.token
        self.invokes.append(
            {"token": function, "args": _plain(dict(args.args)), "provider": provider_name(args.provider or "")}
        )
        if function == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": MOCK_ACCOUNT_ID, "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/mock", "userId": "mock"}
        if function == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if function == "aws:index/getRegion:getRegion":
            region = self._region_hint(dict(args.args), getattr(args, "provider", "")) or "us-east-1"
            return {"name": region, "region": region, "id": region}
        if function == "aws:ssm/getParameter:getParameter":
            name = str(dict(args.args).get("name", ""))
            return {"name": name, "value": "ami-0mock1234567890ab", "type": "String", "id": name}
        return {}

    # -- helpers ------------------------------------------------------------------------------------------
    def _region_hint(self, inputs: Mapping[str, Any], provider_ref: str | None) -> str | None:
        if isinstance(inputs.get("region"), str) and inputs["region"]:
            return str(inputs["region"])
        name = provider_name(provider_ref or "")
        provider = self.providers.get(name or "", {})
        region = provider.get("region")
        return str(region) if region else None

    def _state(self, typ: str, name: str, inputs: dict[str, Any], region: str | None) -> dict[str, Any]:
        region = region or "us-east-1"
        service = _service_of(typ)
        state: dict[str, Any] = {
            **inputs,
            "arn": f"arn:aws:{service}:{region}:{MOCK_ACCOUNT_ID}:{name}",
            "tagsAll": inputs.get("tags", {}),
            **_node_pool_state(typ, name, inputs, region),
            **_traffic_state(typ, name, inputs, region),
        }
        if typ == "aws:kms/key:Key":
            state["keyId"] = f"{name}-key-id"
            state["arn"] = f"arn:aws:kms:{region}:{MOCK_ACCOUNT_ID}:key/{name}"
        elif typ == "aws:ec2/eip:Eip":
            state["allocationId"] = f"eipalloc-{name}"
            state["publicIp"] = "203.0.113.10"
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:log-group:{inputs.get('name', name)}"
        elif typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/{inputs.get('name', name)}"
            state["name"] = inputs.get("name", name)
        elif typ == "aws:eks/cluster:Cluster":
            state["endpoint"] = f"https://{name}.gr7.{region}.eks.amazonaws.com"
            state["certificateAuthority"] = {"data": "bW9jay1jYQ=="}
            state["identities"] = [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/MOCK{name}"}]}]
            state["name"] = inputs.get("name", name)
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            state["primaryEndpointAddress"] = f"master.{name}.mock.{region_code(region)}.cache.amazonaws.com"
            state["readerEndpointAddress"] = f"replica.{name}.mock.cache.amazonaws.com"
        elif typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "mock-password-" + "x" * int(inputs.get("length", 16))
        elif typ == "aws:rds/instance:Instance":
            state["address"] = f"{inputs.get('identifier', name)}.mock.{region}.rds.amazonaws.com"
            state["endpoint"] = f"{state['address']}:{inputs.get('port', 5432)}"
            secret = f"arn:aws:secretsmanager:{region}:{MOCK_ACCOUNT_ID}:secret:rds!db-{name}"
            state["masterUserSecrets"] = [{"secretArn": secret, "kmsKeyId": inputs.get("masterUserSecretKmsKeyId")}]
        elif typ == "aws:amp/workspace:Workspace":
            state["arn"] = f"arn:aws:aps:{region}:{MOCK_ACCOUNT_ID}:workspace/ws-{name}"
            state["prometheusEndpoint"] = f"https://aps-workspaces.{region}.amazonaws.com/workspaces/ws-{name}/"
        elif typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket", name)
            state["bucket"] = bucket
            state["arn"] = f"arn:aws:s3:::{bucket}"
        return state

    def record_transformation(self, args: Any) -> None:
        """A stack transformation hook: records parents (mocks are not told them) and component resources."""
        parent = args.opts.parent if args.opts is not None else None
        if parent is not None and getattr(parent, "_type", "") != "pulumi:pulumi:Stack":
            self.parents[(args.type_, args.name)] = f"{parent._type}::{parent._name}"
        explicit = args.opts.depends_on if args.opts is not None else None
        if isinstance(explicit, list | tuple) and explicit:
            self.depends_on[(args.type_, args.name)] = [
                f"{d._type}::{d._name}" for d in explicit if hasattr(d, "_type") and hasattr(d, "_name")
            ]
        if not getattr(args.resource, "_is_custom", True) and not args.type_.startswith("pulumi:"):
            self.components.append((args.type_, args.name))
        aliases = args.opts.aliases if args.opts is not None else None
        if aliases:
            self.aliases[(args.type_, args.name)] = [_alias_record(a) for a in aliases]

    def _aliases_of(self, type_: str, name: str) -> dict[str, Any]:
        """Extra graph fields: a resource's former identities (`aliases`), which `mlplat.graph_diff` follows."""
        aliases = self.aliases.get((type_, name))
        return {"aliases": aliases} if aliases else {}

    def graph(self, project: str, region: str, jurisdiction: str, kind: str) -> Graph:
        """The recorded graph; fails if an AWS resource has no region or sits on a default provider."""
        problems: list[str] = []
        resources: list[Resource] = [
            Resource(
                type=type_,
                name=name,
                custom=False,
                region=region,
                provider=None,
                parent=self.parents.get((type_, name)),
                depends_on=tuple(self.depends_on.get((type_, name), ())),
                extra=self._aliases_of(type_, name),
            )
            for type_, name in self.components
        ]
        for item in self.resources:
            provider = provider_name(item.provider_ref)
            is_provider = item.type.startswith("pulumi:providers:")
            if item.type.startswith("aws:") and (not provider or provider.startswith("default")):
                problems.append(
                    f"{item.type} {item.name!r} uses the default AWS provider; pass an explicit regional provider "
                    "through ResourceOptions(provider=...) or parent=..."
                )
            if is_provider:
                resource_region = item.inputs.get("region") or region
            else:
                resource_region = self._region_hint(item.inputs, item.provider_ref)
                if resource_region is None:
                    if item.type.startswith("aws:"):
                        problems.append(f"{item.type} {item.name!r} has no region (its provider names none)")
                    resource_region = region
            resources.append(
                Resource(
                    type=item.type,
                    name=item.name,
                    id=f"{item.name}-id",
                    custom=item.custom,
                    region=resource_region,
                    provider=provider,
                    parent=self.parents.get((item.type, item.name)),
                    depends_on=tuple(self.depends_on.get((item.type, item.name), ())),
                    inputs=item.inputs,
                    extra=self._aliases_of(item.type, item.name),
                )
            )
        for invoke in self.invokes:
            if str(invoke["token"]).startswith("aws:") and not invoke["provider"]:
                problems.append(
                    f"invoke {invoke['token']} uses the default AWS provider; pass provider= or parent= in its options"
                )
        if problems:
            raise SynthError(f"stack {self.stack}:\n  " + "\n  ".join(problems))
        seen: set[tuple[str, str]] = set()
        for resource in resources:
            if resource.key in seen:
                raise SynthError(f"stack {self.stack}: {resource.type} {resource.name!r} is declared twice")
            seen.add(resource.key)
        return Graph(
            project=project,
            stack=self.stack,
            region=region,
            jurisdiction=jurisdiction,
            kind=kind,
            resources=tuple(resources),
            invokes=tuple(self.invokes),
        )


def provider_name(reference: str) -> str | None:
    """`urn:pulumi:s::p::pulumi:providers:aws::aws-eu-west-1::<id>` -> `aws-eu-west-1`."""
    if not reference:
        return None
    parts = reference.rsplit("::", 2)
    return parts[-2] if len(parts) == 3 else None


def _alias_record(alias: Any) -> dict[str, Any]:
    """A resource's former identity as the graph keeps it: `name`, and `parent` as `type::name` when given."""
    import pulumi

    if isinstance(alias, str):
        return {"urn": alias}
    record: dict[str, Any] = {}
    name = getattr(alias, "name", None)
    if isinstance(name, str):
        record["name"] = name
    parent = getattr(alias, "parent", None)
    if isinstance(parent, str) and "::" in parent:  # a URN: urn:pulumi:stack::project::type::name
        parts = parent.split("::")
        record["parent"] = f"{parts[-2].rsplit('$', 1)[-1]}::{parts[-1]}"
    elif isinstance(parent, pulumi.Resource):
        record["parent"] = f"{parent._type}::{parent._name}"
    return record


def run_under_mocks(recorder: GraphRecorder, program: Callable[[], None], *, stack: str) -> None:
    """Runs `program` under `pulumi.runtime.set_mocks`, the recorder answering for the engine and the cloud.

    The SDK's settings are global: `mlplat synth` runs each stack in a process of its own; tests that build one
    component at a time call this once per program and read the recorder's graph before the next."""
    import pulumi
    import pulumi.runtime
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class _Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
            return recorder.new_resource(args)

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[Any, Any]:  # type: ignore[override]
            return recorder.call(args)

    pulumi.runtime.set_mocks(_Mocks(), project="mlplat", stack=stack, preview=False, organization=MOCK_ORGANIZATION)

    def _transformation(args: pulumi.ResourceTransformationArgs) -> None:
        recorder.record_transformation(args)

    pulumi.runtime.register_stack_transformation(_transformation)
    _sync_await(run_pulumi_func(program))


def synthesize_in_process(root: Path, stack: str) -> Graph:
    """Runs `stacks/__main__.py` for one stack in this interpreter. Call once per process."""
    from components.composition import planned_stack_outputs
    from components.config import load_deployment

    deployment = load_deployment(root)  # ConfigError propagates with file and field
    config = deployment.stack(stack)
    recorder = GraphRecorder(stack, planned_stack_outputs(deployment))
    program = root / "stacks" / "__main__.py"

    def _run() -> None:
        runpy.run_path(str(program), run_name="__main__")

    run_under_mocks(recorder, _run, stack=stack)
    return recorder.graph("mlplat", config.region, config.jurisdiction, config.kind)


@dataclass(frozen=True)
class SynthResult:
    stack: str
    path: Path
    seconds: float
    resources: int


def synthesize(root: Path, stacks: Sequence[str], out_dir: Path, jobs: int | None = None) -> list[SynthResult]:
    """Synthesizes each stack in its own interpreter, `jobs` at a time; writes `<out>/<stack>.graph.json`.

    Validate the configuration first (`load_deployment`): a worker's failure is reported as a SynthError.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = jobs or max(1, min(len(stacks), os.cpu_count() or 1))

    def run_one(stack: str) -> SynthResult:
        path = out_dir / f"{stack}.graph.json"
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "mlplat.synth", str(root), stack, str(path)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"},
        )
        if completed.returncode != 0:
            message = completed.stderr.strip() or completed.stdout.strip()
            raise SynthError(f"stack {stack}: synthesis failed:\n{message}")
        graph = load_graph(path)
        write_kubernetes_yaml(graph, out_dir / stack / "k8s")
        return SynthResult(stack, path, time.perf_counter() - started, len(graph.resources))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run_one, stacks))


def kubernetes_manifests(graph: Graph | Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(file name, manifest) for every Kubernetes object in the graph, as the API server would receive it.

    Helm releases are recorded as releases (chart, version, values), not as the objects the chart renders.
    """
    manifests = []
    for resource in Graph.of(graph).resources:
        if not resource.type.startswith("kubernetes:") or resource.type.startswith("kubernetes:helm.sh/"):
            continue
        inputs = dict(resource.inputs)
        if "apiVersion" not in inputs or "kind" not in inputs:
            continue
        metadata = dict(inputs.get("metadata") or {})
        scope = metadata.get("namespace", "cluster")
        manifests.append((f"{inputs['kind'].lower()}-{scope}-{metadata.get('name', resource.name)}.yaml", inputs))
    return manifests


def write_kubernetes_yaml(graph: Graph | Mapping[str, Any], directory: Path) -> list[Path]:
    """Writes each Kubernetes object of the graph as its own YAML file (for checkov and for reviewers)."""
    import yaml

    if directory.exists():
        for old in directory.glob("*.yaml"):
            old.unlink()
    written = []
    for file_name, manifest in kubernetes_manifests(graph):
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / file_name
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        written.append(path)
    return written


def _worker(argv: Sequence[str]) -> int:
    root, stack, out = Path(argv[0]), argv[1], Path(argv[2])
    from components.config import ConfigError

    try:
        graph = synthesize_in_process(root, stack)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    except SynthError as error:
        print(error, file=sys.stderr)
        return 1
    out.write_text(graph.dumps())
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
