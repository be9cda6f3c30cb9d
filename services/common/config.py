"""One typed settings object, parsed from the environment once at start-up."""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.errors import StartupError


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


URL_SCHEMES = {"database_url": ("postgresql://", "postgres://"), "redis_url": ("redis://", "rediss://", "unix://")}


class Settings(BaseSettings):
    """Every address and knob of the mesh. Env names are AGENTMESH_<FIELD> unless noted."""

    model_config = SettingsConfigDict(env_prefix="AGENTMESH_", extra="ignore", populate_by_name=True)

    # stores
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/test", validation_alias=_env("DATABASE_URL", "AGENTMESH_DATABASE_URL")
    )
    db_schema: str = "agentmesh"
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_env("REDIS_URL", "AGENTMESH_REDIS_URL"))
    redis_prefix: str = "am:"

    # service addresses (host:port); a service listens on its own address unless AGENTMESH_PORT is set
    router_addr: str = "127.0.0.1:50051"
    scheduler_addr: str = "127.0.0.1:50052"
    runlog_addr: str = "127.0.0.1:50053"
    toolworker_addr: str = "127.0.0.1:50054"
    gateway_addr: str = "127.0.0.1:8080"
    port: int | None = None
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"

    # agents and tools: the Python module that declares them
    agents_module: str = "examples.leads"

    # router: policy, prices, providers (a real API key switches a provider from its simulator to the service)
    policy_path: Path = Path(__file__).resolve().parents[1] / "router" / "policy.yaml"
    prices_path: Path = Path(__file__).resolve().parents[1] / "router" / "prices.yaml"
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    gemini_api_key: SecretStr | None = Field(None, validation_alias=_env("GEMINI_API_KEY", "GOOGLE_API_KEY"))
    xai_api_key: SecretStr | None = Field(None, validation_alias=_env("XAI_API_KEY"))
    openai_sim_addr: str = "127.0.0.1:9101"
    anthropic_sim_addr: str = "127.0.0.1:9102"
    gemini_sim_addr: str = "127.0.0.1:9103"
    xai_sim_addr: str = "127.0.0.1:9104"

    # scheduler and tool workers
    tool_timeout_s: float = 30.0
    tool_max_deliveries: int = 3
    tool_claim_idle_s: float = 15.0
    stream_maxlen: int = 100_000
    tool_calls_stream: str = "tools:calls"  # under redis_prefix; the scheduler publishes, workers consume
    turn_timeout_s: float = 300.0  # longest turn: the session lock's TTL and the wait for a busy session

    # run log: JSON fields whose names contain one of these words are redacted before write
    redact_fields: list[str] = ["api_key", "apikey", "api-key", "authorization", "secret", "password"]

    @field_validator("database_url", "redis_url")
    @classmethod
    def _url_scheme(cls, value: str, info: ValidationInfo) -> str:
        schemes = URL_SCHEMES[info.field_name or ""]
        if not value.startswith(schemes):
            raise ValueError(f"must be a {schemes[0]} URL")
        return value

    @field_validator("router_addr", "scheduler_addr", "runlog_addr", "toolworker_addr", "gateway_addr")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port with a port from 1 to 65535")
        return value

    def listen_addr(self, own_addr: str) -> str:
        """The address a service binds: its own address, or the same host on AGENTMESH_PORT."""
        host = own_addr.rpartition(":")[0]
        return f"{host}:{self.port}" if self.port is not None else own_addr


def load_settings() -> Settings:
    """Parse the environment, turning a validation failure into a one-line error naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        name = field if field.isupper() else f"AGENTMESH_{field.upper()}"  # an alias (DATABASE_URL) comes as is
        raise StartupError(name, first["msg"].removeprefix("Value error, ")) from None
