"""Every flow by its deployment name, with its parameter model, imported on demand."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from flows.params import (
    ABTestParams,
    DeployParams,
    EvaluateParams,
    FineTuneParams,
    FlowParams,
    MonitorParams,
    PromoteParams,
    RegisterModelParams,
    RetrainParams,
    UndeployParams,
    UsageReportParams,
)

if TYPE_CHECKING:  # importing Prefect costs seconds; the CLI loads a flow only to run it
    from prefect import Flow


@dataclass(frozen=True)
class FlowEntry:
    name: str
    entrypoint: str  # module:function, as in prefect.yaml
    params: type[FlowParams]

    def load(self) -> Flow[..., object]:
        module, _, function = self.entrypoint.partition(":")
        loaded: Flow[..., object] = getattr(import_module(module), function)
        return loaded


FLOWS: dict[str, FlowEntry] = {
    entry.name: entry
    for entry in (
        FlowEntry("register-model", "flows.register_model:register_model", RegisterModelParams),
        FlowEntry("fine-tune", "flows.fine_tune:fine_tune", FineTuneParams),
        FlowEntry("evaluate", "flows.evaluate:evaluate", EvaluateParams),
        FlowEntry("promote", "flows.promote:promote", PromoteParams),
        FlowEntry("retrain", "flows.retrain:retrain", RetrainParams),
        FlowEntry("ab-test", "flows.ab_test:ab_test", ABTestParams),
        FlowEntry("deploy", "flows.deploy:deploy", DeployParams),
        FlowEntry("undeploy", "flows.deploy:undeploy", UndeployParams),
        FlowEntry("monitor", "flows.monitor:monitor", MonitorParams),
        FlowEntry("usage-report", "flows.usage_report:usage_report", UsageReportParams),
    )
}
