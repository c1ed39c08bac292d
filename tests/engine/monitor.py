"""The engine side of a program run, over gRPC on loopback: a resource monitor answering with the
project's deterministic mocks (keel.evaluate.KeelMocks, through the SDK's MockMonitor) and an engine
service that records log messages. A program started by the language host's rules
(tests/engine/rules.py, PROGRAM_RUN) connects to these addresses as it would to `pulumi preview`'s."""

from __future__ import annotations

from concurrent import futures

import grpc
from google.protobuf import empty_pb2
from keel.evaluate import KeelMocks
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, resource_pb2, resource_pb2_grpc


class _Monitor(MockMonitor):
    def __init__(self, mocks: KeelMocks, project: str, stack: str):
        super().__init__(mocks)
        self.project, self.stack = project, stack

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        if parent:
            type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"


class MonitorServicer(resource_pb2_grpc.ResourceMonitorServicer):
    """Each ResourceMonitor call answered by the SDK's MockMonitor (its answers are already protobufs)."""

    def __init__(self, monitor: _Monitor):
        self.monitor = monitor

    def SupportsFeature(self, request, context):
        return resource_pb2.SupportsFeatureResponse(hasSupport=self.monitor.SupportsFeature(request).hasSupport)


def _forward(name: str):
    def method(self, request, context):
        return getattr(self.monitor, name)(request)
    method.__name__ = name
    return method


for _name in ("GetDeploymentInfo", "Invoke", "ReadResource", "ExistsResource", "RegisterResource",
              "RegisterResourceOutputs", "RegisterStackTransform", "RegisterStackInvokeTransform",
              "RegisterResourceHook", "RegisterErrorHook", "RegisterPackage", "SignalAndWaitForShutdown"):
    setattr(MonitorServicer, _name, _forward(_name))


class EngineServicer(engine_pb2_grpc.EngineServicer):
    def __init__(self):
        self.messages: list[tuple[int, str]] = []
        self.root = ""

    def Log(self, request, context):
        self.messages.append((request.severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):
        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request, context):
        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()

    def errors(self) -> list[str]:
        return [message for severity, message in self.messages if severity == engine_pb2.ERROR]


class FakeEngine:
    """Both services on one loopback port; ``address`` is what the language host passes on."""

    def __init__(self, project: str, stack: str, region: str):
        self.monitor = _Monitor(KeelMocks(region), project, stack)
        self.engine = EngineServicer()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(MonitorServicer(self.monitor), self.server)
        engine_pb2_grpc.add_EngineServicer_to_server(self.engine, self.server)
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"

    def __enter__(self) -> FakeEngine:
        self.server.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.stop(0)

    def registered_types(self) -> set[str]:
        return {urn.split("::")[2].split("$")[-1] for urn in self.monitor.resources}
