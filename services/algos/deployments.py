"""The deployments fold: every deployment, its instances and what the runner reported about them.

One pure fold of the `algo.>` events (events/algos.py), kept by the API (for /v1/deployments and
/v1/algos) and by the algo runner (which instances should run). Rebuilt from the log on start,
so a restart of either keeps every deployment and its desired state.

Statuses of an instance: `pending` (should run, the runner has not loaded it yet), `running`,
`paused` (the runner stopped calling it: `pause_reason` says why), `stopped` (by the user).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from events import AnyEvent
from events.algos import (
    AlgoDeployed,
    AlgoInstancePaused,
    AlgoInstanceRunning,
    AlgoInstanceSpec,
    AlgoLogBatch,
    AlgoLogLine,
    AlgoMeshMessage,
    AlgoStarted,
    AlgoStats,
    AlgoStopped,
    AlgoUndeployed,
)

LOG_LINES_KEPT = 5000  # per deployment, newest last
MESH_MESSAGES_KEPT = 200


@dataclass
class Instance:
    spec: AlgoInstanceSpec
    desired: str = "stopped"  # running | stopped
    run: int = 0  # starts the runner has made (0 = never loaded)
    running: bool = False  # the runner reported it running, and nothing paused it since
    pause_reason: str | None = None
    paused_by_user: bool = False
    stats: AlgoStats | None = None
    started_ns: int = 0
    started_by: str = ""  # the start request (event id) in force: a new one restarts a paused instance

    @property
    def status(self) -> str:
        if self.desired == "stopped":
            return "stopped"
        if self.pause_reason is not None and not self.running:
            return "paused"
        return "running" if self.running else "pending"


@dataclass
class Deployment:
    deployed: AlgoDeployed
    instances: dict[str, Instance]
    deleted: bool = False
    logs: deque[AlgoLogLine] = field(default_factory=lambda: deque(maxlen=LOG_LINES_KEPT))
    dropped_logs: int = 0
    mesh: deque[AlgoMeshMessage] = field(default_factory=lambda: deque(maxlen=MESH_MESSAGES_KEPT))
    links: dict[tuple[str, str], int] = field(default_factory=dict)  # (from label, to label) -> messages
    refused_messages: int = 0

    @property
    def deployment_id(self) -> str:
        return self.deployed.deployment_id

    @property
    def tenant(self) -> str:
        return self.deployed.tenant

    @property
    def status(self) -> str:
        if self.deleted:
            return "undeployed"
        statuses = {i.status for i in self.instances.values()}
        for status in ("paused", "running", "pending"):
            if status in statuses:
                return status
        return "stopped"

    def label_of(self, instance_id: str) -> str:
        return self.instances[instance_id].spec.label

    def by_label(self, label: str) -> Instance | None:
        return next((i for i in self.instances.values() if i.spec.label == label), None)

    def named(self) -> list[Instance]:
        """Instances given a label of their own at deploy (`label=SYMBOL@venue`): the tenant's mesh."""
        return [i for i in self.instances.values() if i.spec.label != i.spec.instance_id]


def _targets(deployment: Deployment, named: list[str]) -> list[Instance]:
    if not named:
        return list(deployment.instances.values())
    return [deployment.instances[i] for i in named if i in deployment.instances]


class DeploymentsView:
    def __init__(self) -> None:
        self.deployments: dict[str, Deployment] = {}
        self.position = 0

    def get(self, tenant: str, deployment_id: str) -> Deployment | None:
        deployment = self.deployments.get(deployment_id)
        if deployment is None or deployment.deleted or deployment.tenant != tenant:
            return None
        return deployment

    def of_tenant(self, tenant: str) -> list[Deployment]:
        return [d for d in self.deployments.values() if d.tenant == tenant and not d.deleted]

    def live(self) -> list[Deployment]:
        return [d for d in self.deployments.values() if not d.deleted]

    def find_label(self, sender: Deployment, label: str) -> tuple[Deployment, Instance] | None:
        """Where a message to `label` goes: an instance of the sender's own deployment, else one the
        tenant named `label` in another of its live deployments."""
        own = sender.by_label(label)
        if own is not None:
            return sender, own
        for deployment in self.of_tenant(sender.tenant):
            for instance in deployment.named():
                if instance.spec.label == label:
                    return deployment, instance
        return None

    def mesh_peers(self, deployment: Deployment, instance_id: str, limit: int = 16) -> dict[str, int]:
        """The mesh table of an instance: label -> mesh id, its own deployment's instances first
        (mesh id = 1-based position), then the tenant's named instances elsewhere (ids from 1001)."""
        peers: dict[str, int] = {}
        for i, spec in enumerate(deployment.deployed.instances):
            if spec.instance_id != instance_id:
                peers[spec.label] = i + 1
        extra = 1001
        for other in self.of_tenant(deployment.tenant):
            if other is deployment:
                continue
            for instance in other.named():
                if instance.spec.label not in peers and len(peers) < limit:
                    peers[instance.spec.label] = extra
                    extra += 1
        return dict(list(peers.items())[:limit])

    def apply(self, event: AnyEvent, seq: int = 0) -> Deployment | None:
        """Fold one event; the deployment it changed (None for other events)."""
        self.position = max(self.position, seq)
        if isinstance(event, AlgoDeployed):
            if event.deployment_id in self.deployments:
                return None  # a replayed append
            created = Deployment(event, {s.instance_id: Instance(s) for s in event.instances})
            self.deployments[event.deployment_id] = created
            return created
        deployment_id = getattr(event, "deployment_id", None)
        found = self.deployments.get(deployment_id) if isinstance(deployment_id, str) else None
        if found is None or found.tenant != event.tenant:
            return None
        deployment = found
        match event:
            case AlgoStarted(instances=named):
                for instance in _targets(deployment, named):
                    instance.desired = "running"
                    instance.started_by = event.event_id
                    instance.pause_reason, instance.paused_by_user = None, False
            case AlgoStopped(instances=named):
                for instance in _targets(deployment, named):
                    instance.desired = "stopped"
            case AlgoUndeployed():
                deployment.deleted = True
                for instance in deployment.instances.values():
                    instance.desired = "stopped"
            case AlgoInstanceRunning(instance_id=i, run=run) if i in deployment.instances:
                instance = deployment.instances[i]
                instance.run, instance.running, instance.started_ns = run, True, event.ts_ns
                instance.pause_reason, instance.paused_by_user = None, False
            case AlgoInstancePaused(instance_id=i, run=run) if i in deployment.instances:
                instance = deployment.instances[i]
                if run >= instance.run:
                    instance.running = False
                    instance.pause_reason, instance.paused_by_user = event.reason, event.by_user
            case AlgoStats(instance_id=i) if i in deployment.instances:
                deployment.instances[i].stats = event
            case AlgoLogBatch(lines=lines):
                deployment.logs.extend(lines)
                deployment.dropped_logs += event.dropped
            case AlgoMeshMessage(from_label=src, to_label=dst):
                receiver = self.deployments.get(event.to_deployment_id) if event.to_deployment_id else None
                for side in (deployment, receiver) if receiver is not None and receiver.tenant == event.tenant else (
                        deployment,):
                    side.mesh.append(event)
                    side.links[(src, dst)] = side.links.get((src, dst), 0) + 1
        return deployment
