"""Model registry on MLflow: every trained model is a run (parameters, metrics, feature list,
data snapshot id, the pickled model) and a version of a registered model.

The tracking and registry store is ``sqlite:///<workspace>/mlflow.db``; artifacts live under
``<workspace>/mlartifacts``. Only ``mlflow-skinny`` (+ sqlalchemy, alembic) is needed, nothing
is contacted over the network (MLflow's telemetry is switched off before it is imported).
Models are stored with pickle, so load only registries you wrote yourself.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from laketown.errors import LaketownError

EXPERIMENT = "laketown"
_MODEL_FILE = "model.pkl"
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: its number, run, metrics, parameters, features and snapshot."""

    name: str
    version: int
    run_id: str
    source: str
    created_ms: int
    metrics: dict[str, float]
    params: dict[str, str]
    features: list[str]
    snapshot_id: str | None


def _mlflow() -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise LaketownError(f"the model registry needs mlflow-skinny, a core dependency ({exc}): "
                            "pip install 'mlflow-skinny>=3.1,<4' sqlalchemy alembic") from None
    return MlflowClient


class ModelRegistry:
    """Log, register and load models of one workspace: ``ModelRegistry(ws).log_model(...)``."""

    def __init__(self, ws: Any):
        self.path = Path(ws.path)
        self.uri = f"sqlite:///{self.path / 'mlflow.db'}"
        self.artifacts = (self.path / "mlartifacts").resolve().as_uri()
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with _lock:
                if self._client is None:
                    self._client = _mlflow()(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        if exp is not None:
            return exp.experiment_id
        return self.client.create_experiment(EXPERIMENT, artifact_location=self.artifacts)

    def log_model(
        self,
        name: str,
        model: Any,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        features: list[str] | None = None,
        snapshot_id: Any = None,
    ) -> int:
        """Record a training run and register ``model`` as the next version of ``name``.

        Returns the new version number."""
        from mlflow.exceptions import MlflowException

        client = self.client
        with _lock:
            run = client.create_run(self._experiment_id(), run_name=name, tags={"laketown.model": name})
            run_id = run.info.run_id
            try:
                for key, value in (params or {}).items():
                    client.log_param(run_id, key, str(value)[:6000])
                for key, value in (metrics or {}).items():
                    client.log_metric(run_id, key.replace("@", "_at_"), float(value))
                client.set_tag(run_id, "features", ",".join(features or []))
                if snapshot_id is not None:
                    client.set_tag(run_id, "data_snapshot_id", str(snapshot_id))
                with tempfile.TemporaryDirectory() as tmp:
                    file = Path(tmp) / _MODEL_FILE
                    file.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
                    client.log_artifact(run_id, str(file), "model")
                client.set_terminated(run_id)
            except BaseException:
                client.set_terminated(run_id, status="FAILED")
                raise
            try:
                client.create_registered_model(name)
            except MlflowException as exc:
                if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                    raise
            mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run_id)
        return int(mv.version)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (an empty list for an unknown name)."""
        found = self.client.search_model_versions(f"name='{_quoted(name)}'")
        return [self._describe(mv) for mv in sorted(found, key=lambda mv: int(mv.version))]

    def _describe(self, mv: Any) -> ModelVersion:
        run = self.client.get_run(mv.run_id)
        features = run.data.tags.get("features", "")
        return ModelVersion(
            name=mv.name,
            version=int(mv.version),
            run_id=mv.run_id,
            source=mv.source,
            created_ms=int(mv.creation_timestamp or 0),
            metrics={k.replace("_at_", "@"): v for k, v in run.data.metrics.items()},
            params=dict(run.data.params),
            features=features.split(",") if features else [],
            snapshot_id=run.data.tags.get("data_snapshot_id"),
        )

    def latest_version(self, name: str) -> int | None:
        """The highest version number of ``name``, or ``None`` when it has none."""
        found = self.client.search_model_versions(f"name='{_quoted(name)}'")
        return max((int(mv.version) for mv in found), default=None)

    def load(self, name: str, version: int | None = None) -> Any:
        """The model object of ``name`` at ``version`` (the latest when ``None``)."""
        found = {int(mv.version): mv for mv in self.client.search_model_versions(f"name='{_quoted(name)}'")}
        if not found:
            known = ", ".join(sorted(m.name for m in self.client.search_registered_models())) or "none"
            raise LaketownError(f"no registered model {name!r}; registered models: {known}; train one first")
        version = max(found) if version is None else int(version)
        if version not in found:
            raise LaketownError(
                f"model {name!r} has no version {version}; versions: {', '.join(map(str, sorted(found)))}"
            )
        source = found[version].source
        parsed = urlparse(source)
        if parsed.scheme not in ("file", ""):
            raise LaketownError(f"model {name!r} v{version} lives at {source!r}; only local artifacts are read")
        path = Path(unquote(parsed.path)) / _MODEL_FILE
        return pickle.loads(path.read_bytes())


def _quoted(name: str) -> str:
    return name.replace("'", "''")
