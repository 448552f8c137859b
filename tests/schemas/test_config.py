"""Config loading and validation: pure unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.errors import ConfigError


def test_defaults_load_without_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARPDRIVE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("WARPDRIVE_CONFIG", raising=False)
    cfg = wconfig.load()
    assert cfg.source == "defaults"
    assert cfg.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert cfg.agent.batch_size == 100 and cfg.agent.flush_interval == 5.0
    assert cfg.agent.sample_metadata_ops == 0.1
    assert cfg.state_dir == tmp_path.resolve()


def test_file_and_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    f.write_text(
        '[kafka]\nbootstrap_servers = "10.0.0.1:9092"\n[agent]\nbatch_size = 50\n'
        '[[backends]]\nname = "s3_training"\nurl = "s3://bucket/prefix"\nstorage_options = { anon = true }\n'
        '[teams]\nalice = "vision"\n'
    )
    monkeypatch.setenv("WARPDRIVE_AGENT_BATCH_SIZE", "7")
    monkeypatch.setenv("WARPDRIVE_AGENT_TELEMETRY_ENABLED", "false")
    cfg = wconfig.load(f)
    assert cfg.kafka.bootstrap_servers == "10.0.0.1:9092"
    assert cfg.agent.batch_size == 7
    assert cfg.agent.telemetry_enabled is False
    (b,) = cfg.backends
    assert (b.name, b.scheme, b.storage_options) == ("s3_training", "s3", {"anon": True})
    assert cfg.teams == {"alice": "vision"}
    assert cfg.backend("s3_training") is b


def test_env_json_for_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARPDRIVE_BACKENDS", '[{"name": "nfs", "url": "file:///mnt/nfs"}]')
    cfg = wconfig.from_dict({})
    assert [b.name for b in cfg.backends] == ["nfs"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kafka": {"bogus": 1}}, "kafka.bogus: unknown key"),
        ({"nonsense": {}}, "nonsense: unknown key"),
        ({"kafka": {"bootstrap_servers": "no-port"}}, "kafka.bootstrap_servers: must be HOST:PORT"),
        ({"agent": {"batch_size": "many"}}, "agent.batch_size: expected an integer"),
        ({"agent": {"batch_size": 0}}, "agent.batch_size: must be > 0"),
        ({"agent": {"sample_metadata_ops": 1.5}}, "agent.sample_metadata_ops: must be between 0 and 1"),
        ({"agent": {"telemetry_sink": "grpc"}}, "agent.telemetry_sink: must be one of kafka, stdout, file"),
        ({"backends": [{"name": "x", "url": "ftp://h/p"}]}, "backends[0].url: scheme 'ftp' not supported"),
        ({"backends": [{"name": "x", "url": "s3://"}]}, "backends[0].url: 's3://' names no bucket"),
        ({"backends": [{"name": "x", "url": "file://relative"}]}, "must be an absolute file:///path"),
        ({"backends": [{"name": "x"}]}, "backends[0].url: missing"),
        ({"backends": [{"name": "a", "url": "s3://b"}, {"name": "a", "url": "s3://c"}]}, "name 'a' is used twice"),
        ({"api": {"tokens": [{"token": "short", "role": "admin"}]}}, "api.tokens[0].token: must be at least 16"),
        (
            {"api": {"tokens": [{"token": "x" * 20, "role": "root"}]}},
            "api.tokens[0].role: must be one of viewer, admin",
        ),
        (
            {"backends": [{"name": "x", "url": "file:///d", "atime": "always"}]},
            "backends[0].atime: must be one of off, strict, relatime",
        ),
        ({"backends": [{"name": "x", "url": "s3://b", "atime": "strict"}]}, "backends[0].atime: only file:// backends"),
        ({"history": {"users": ["alice"]}}, "history.users: expected a table"),
    ],
)
def test_bad_config_names_key_and_problem(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        wconfig.from_dict(raw)
    assert message in str(e.value)


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARPDRIVE_STREAMS_BATCH_SIZE", "ten")
    with pytest.raises(
        ConfigError, match=r"streams.batch_size \(from WARPDRIVE_STREAMS_BATCH_SIZE\): expected an integer"
    ):
        wconfig.from_dict({})


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        wconfig.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[kafka\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        wconfig.load(bad)


def test_dump_toml_round_trips() -> None:
    data = {
        "state_dir": "/x",
        "kafka": {"bootstrap_servers": "a:1", "partitions": 3},
        "api": {"insecure_no_auth": True, "tokens": [{"token": "t" * 16, "role": "viewer", "name": "ro"}]},
        "backends": [{"name": "s3", "url": "s3://b", "storage_options": {"key": "k", "anon": False}}],
        "teams": {"alice": "vision", "bob.smith": "nlp"},
    }
    import tomllib

    assert tomllib.loads(wconfig.dump_toml(data)) == data
    cfg = wconfig.from_dict(tomllib.loads(wconfig.dump_toml(data)))
    assert cfg.api.tokens[0].role == "viewer"


def test_every_setting_has_help_and_env() -> None:
    rows = wconfig.settings_help()
    names = [r[0] for r in rows]
    assert len(names) == len(set(names))
    for name, env, _default, help_ in rows:
        assert env.startswith("WARPDRIVE_") and help_, name


def test_unknown_env_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARPDRIVE_KAFKA_BOOTSTRAP_SERVER", "h:1")  # missing S
    with pytest.raises(ConfigError, match="WARPDRIVE_KAFKA_BOOTSTRAP_SERVER: unknown setting kafka.bootstrap_server"):
        wconfig.from_dict({})


def test_shipped_example_config_is_valid() -> None:
    cfg = wconfig.load(Path(__file__).parents[2] / "warpdrive.example.toml")
    assert [b.scheme for b in cfg.backends] == ["s3", "gs", "az", "file"]
    assert {t.role for t in cfg.api.tokens} == {"admin", "viewer"}
