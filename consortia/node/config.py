"""Node configuration: a TOML file, overridable by CONSORTIA_* environment variables."""

from __future__ import annotations

import os
import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from consortia.node.pem import read_pem

MIB = 1024 * 1024


class NodeConfig(BaseSettings):
    """Every limit the node enforces is here, with its unit in its name."""

    model_config = SettingsConfigDict(env_prefix="CONSORTIA_", extra="forbid")

    node_id: str = "node1"
    data_dir: Path = Path("data/node")
    genesis_file: Path | None = None  # default: <data_dir>/genesis.json
    key_file: Path | None = None  # default: <data_dir>/node.key
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)

    mempool_txs_max: int = Field(default=200_000, ge=1)
    batch_txs_max: int = Field(default=5_000, ge=1)
    batch_bytes_max: int = Field(default=3 * MIB, ge=1024)
    batch_interval_ms: int = Field(default=5, ge=0)
    submit_txs_max: int = Field(default=10_000, ge=1)
    request_bytes_max: int = Field(default=16 * MIB, ge=1024)
    tx_bytes_max: int = Field(default=64 * 1024, ge=256)
    page_size_max: int = Field(default=200, ge=1)
    statement_csv_rows_max: int = Field(default=10_000, ge=1)
    wait_ms_max: int = Field(default=30_000, ge=0)
    waiters_max: int = Field(default=50_000, ge=1)
    sse_clients_max: int = Field(default=64, ge=1)
    sse_queue_events_max: int = Field(default=1_000, ge=1)
    # Payments notifications (off-ledger; docs/payments-notifications.md).
    merchant_events_kept_ms: int = Field(default=7 * 86_400_000, ge=60_000)
    webhooks_per_merchant_max: int = Field(default=5, ge=0)
    webhook_queue_max: int = Field(default=10_000, ge=1)  # deliveries pending at once
    webhook_attempts_max: int = Field(default=10, ge=1)
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhook_backoff_base_ms: int = Field(default=1_000, ge=1)
    webhook_backoff_max_ms: int = Field(default=600_000, ge=1)
    webhook_concurrency_max: int = Field(default=16, ge=1)
    verify_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)

    # Ordering (docs/consortium.md). "solo": in-process, one node. "etcd": an etcd cluster
    # orders batches for every node of the consortium.
    ordering: Literal["solo", "etcd"] = "solo"
    etcd_endpoints: list[str] = []  # "host:port" of each etcd member's client URL
    etcd_prefix: str = "/consortia"  # keys live under <etcd_prefix>/<chain_id>/
    etcd_timeout_s: float = Field(default=5.0, gt=0, le=60)  # one etcd call, then fail over
    # etcd refuses requests above --max-request-bytes (we run it with 4 MiB): a batch's
    # encoded value stays below this.
    etcd_request_bytes_max: int = Field(default=4 * MIB - 64 * 1024, ge=64 * 1024)
    # Batches kept in etcd at most; older ones are deleted even if a node has not read them
    # (that node then catches up from a peer's snapshot).
    etcd_window_batches_max: int = Field(default=20_000, ge=10)
    etcd_window_interval_s: float = Field(default=2.0, gt=0)  # how often the window slides
    # TLS to etcd (PEM files). With the CA, every etcd connection is TLS and checks the
    # members' server certificates; the node's certificate and key (both or neither)
    # authenticate it to etcd's --client-cert-auth. None: plain gRPC on a private network.
    etcd_ca_file: Path | None = None
    etcd_cert_file: Path | None = None
    etcd_key_file: Path | None = None
    # Other nodes of the consortium (base URLs): agreement checks and snapshots.
    peers: list[str] = []
    agreement_interval_ms: int = Field(default=1_000, ge=50)
    # HTTPS served by the node itself (PEM files, both or neither). None: plain HTTP, for
    # loopback behind a TLS-terminating proxy or a private network.
    tls_cert_file: Path | None = None  # the certificate, then any intermediates
    tls_key_file: Path | None = None  # its private key, unencrypted, mode 0600
    # The CA (PEM bundle) that signed the peers' certificates, for this node's calls to
    # peers (agreement, snapshots). None: httpx's default bundle (certifi's public CAs).
    peers_ca_file: Path | None = None

    def _both_or_neither(self, cert_field: str, key_field: str, what: str) -> None:
        """A certificate is useless without its key and a key without its certificate: a
        partial setting is refused at start rather than quietly going without TLS."""
        cert, key = getattr(self, cert_field), getattr(self, key_field)
        if (cert is None) != (key is None):
            given, missing = ((cert_field, key_field) if key is None
                              else (key_field, cert_field))
            raise ValueError(f"{given} is set but {missing} is not: {what} go together")

    @model_validator(mode="after")
    def _etcd_tls_together(self) -> NodeConfig:
        """TLS to etcd is on when ``etcd_ca_file`` is set; a client certificate and its key
        make sense only together and only with it. A partial setting is refused here, at
        start, rather than quietly connecting without the certificate etcd expects."""
        self._both_or_neither("etcd_cert_file", "etcd_key_file",
                              "the node's client certificate and its private key for etcd")
        if self.etcd_cert_file is not None and self.etcd_ca_file is None:
            raise ValueError("etcd_cert_file and etcd_key_file are set but etcd_ca_file is "
                             "not: TLS to etcd needs the CA that signed the members' "
                             "certificates")
        return self

    @model_validator(mode="after")
    def _tls_together(self) -> NodeConfig:
        """HTTPS served by the node: certificate and key, both or neither."""
        self._both_or_neither("tls_cert_file", "tls_key_file",
                              "the node's HTTPS certificate and its private key")
        return self

    @property
    def genesis_path(self) -> Path:
        return self.genesis_file or self.data_dir / "genesis.json"

    @property
    def key_path(self) -> Path:
        return self.key_file or self.data_dir / "node.key"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "ledger.sqlite"


def load_config(path: Path, **overrides: Any) -> NodeConfig:
    """Read a TOML config file; relative paths in it are relative to the file.

    ValueError with one line per problem, each naming its field, when the config is invalid
    (pydantic's own message starts with a line that names none)."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    for name in ("data_dir", "genesis_file", "key_file", "etcd_ca_file", "etcd_cert_file",
                 "etcd_key_file", "tls_cert_file", "tls_key_file", "peers_ca_file"):
        if name in data and not Path(data[name]).is_absolute():
            data[name] = str((path.parent / data[name]).resolve())
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return NodeConfig(**data)
    except ValidationError as exc:
        raise ValueError("\n".join(_problem(e) for e in exc.errors())) from None


def _problem(error: Any) -> str:
    """One pydantic error as ``field: what is wrong`` (a model validator's sentence names
    its fields itself)."""
    where = ".".join(str(part) for part in error["loc"])
    what = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {what}" if where else what


def peers_ssl_context(config: NodeConfig) -> ssl.SSLContext | None:
    """The context that checks peers' certificates against ``peers_ca_file`` only, or None
    when it is unset (httpx's default then). ValueError naming the field when the file
    cannot be read or holds no certificate, so a bad setting stops the node at start."""
    if config.peers_ca_file is None:
        return None
    pem = read_pem(config, "peers_ca_file")
    assert pem is not None
    try:
        return ssl.create_default_context(cadata=pem.decode("ascii"))
    except (UnicodeDecodeError, ssl.SSLError) as exc:
        raise ValueError(f"peers_ca_file {config.peers_ca_file}: no CA certificate in it "
                         f"({exc.__class__.__name__})") from None
