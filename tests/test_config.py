"""The Streamlit configuration the capacity figures depend on (README "Performance" and
"Beyond one container", benchmarks/capacity.py): every key in .streamlit/config.toml is an
option this Streamlit knows (a misspelt key would be ignored silently), and the choices that
cut the server's CPU per stroke and hide the developer toolbar are set."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"


@pytest.fixture(scope="module")
def config() -> dict:
    return tomllib.loads(CONFIG.read_text())


def test_every_key_is_a_streamlit_option(config):
    from streamlit import config as st_config

    known = set(st_config.get_config_options())
    keys = {f"{section}.{name}" for section, options in config.items() for name in options}
    assert keys, "empty config file"
    assert keys <= known, f"unknown Streamlit options: {sorted(keys - known)}"


def test_no_full_garbage_collection_after_every_run(config):
    # the default (true) ran gc.collect() after each stroke's fragment rerun: ~160 ms of CPU here
    assert config["runner"]["postScriptGC"] is False


def test_no_file_watcher_and_no_rerun_on_save(config):
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"]["runOnSave"] is False


def test_visitors_get_no_developer_toolbar(config):
    # "auto" shows Deploy/Rerun/Clear cache on localhost and to the app's developer
    assert config["client"]["toolbarMode"] in {"viewer", "minimal"}


def test_streamlit_reads_these_values(config, monkeypatch):
    """Streamlit itself, started from the repository root, parses the file to the same values."""
    from streamlit import config as st_config

    monkeypatch.chdir(ROOT)
    st_config.get_config_options(force_reparse=True)
    try:
        assert st_config.get_option("runner.postScriptGC") is False
        assert st_config.get_option("server.fileWatcherType") == "none"
        assert st_config.get_option("client.toolbarMode") == config["client"]["toolbarMode"]
        assert st_config.get_option("server.maxUploadSize") == config["server"]["maxUploadSize"]
    finally:
        st_config.get_config_options(force_reparse=True)
