"""The owner's config: endpoints, search, model and data folders declared beside the MCP servers, and the checks
a recipe's validation runs against them (`studio.owner.checks`)."""

from __future__ import annotations

import json
import re

import pytest

from studio.owner import checks
from studio.owner.config import Endpoint, OwnerConfigError, load_config
from studio.recipe.io import RecipeError, parse_recipe
from tests.support.owner import owner_config


def write(tmp_path, data: dict):
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(data))
    return path


def test_declarations_are_read_with_their_folders_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, {
        "endpoints": {"local": {"base_url": "http://127.0.0.1:8080/v1/"},
                      "fleet": {"base_url": ["http://a:1/v1", "http://b:1/v1"], "api_key_env": "FLEET_KEY",
                                "models": ["m"]}},
        "search": {"serpapi": {"api_key_env": "MY_SERP"}},
        "models": {"roots": ["models"], "allow_downloads": True},
        "data": {"roots": ["data"]}}), tmp_path / "studio.duckdb")
    assert config.endpoints["local"] == Endpoint("local", ("http://127.0.0.1:8080/v1",), None, None)
    assert config.endpoints["fleet"].api_key_env == "FLEET_KEY" and config.endpoints["fleet"].models == ("m",)
    assert config.endpoints["openai"].api_key_env == "OPENAI_API_KEY"  # the built-in declaration stays
    assert config.search["serpapi"].api_key_env == "MY_SERP"
    assert config.search["serpapi"].base_url.startswith("https://serpapi.com")
    assert (tmp_path / "models").resolve() in config.model_roots and config.allow_downloads
    assert (tmp_path / "data").resolve() in config.data_roots
    assert (tmp_path / "uploads").resolve() in config.data_roots  # the uploads beside the database


@pytest.mark.parametrize(("data", "message"), [
    ({"endpoints": {"x": {"base_url": "ftp://x"}}}, "endpoints.x: url must start with http:// or https://"),
    ({"endpoints": {"x": {"base_url": []}}}, "endpoints.x: base_url lists no server"),
    ({"endpoints": {"x": {"base_url": "http://x", "api_key_env": "sk-123 secret"}}}, "the NAME of an environment"),
    ({"endpoints": {"a b": {"base_url": "http://x"}}}, "an endpoint name may use only"),
    ({"endpoints": {"x": {"url": "http://x"}}}, "endpoints.x.base_url"),
    ({"search": {"bing": {}}}, "search.bing"),
    ({"models": {"allow_downloads": "yes"}}, "models.allow_downloads"),
])
def test_a_wrong_declaration_names_the_file_and_the_entry(tmp_path, data, message):
    with pytest.raises(OwnerConfigError, match=message):
        load_config(write(tmp_path, data))


def test_a_wrong_config_file_is_one_recipe_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MCP_CONFIG", str(write(tmp_path, {"endpoints": {"x": {"base_url": "ftp://x"}}})))
    with pytest.raises(RecipeError) as err:
        parse_recipe("name: x\n")
    assert len(err.value.problems) == 1 and "endpoints.x: url must start" in err.value.problems[0]


def test_a_teacher_reaches_the_endpoint_it_names_with_the_declared_key():
    owner = owner_config(endpoints={"local": Endpoint("local", ("http://127.0.0.1:8080/v1",), None),
                                    "openai": Endpoint("openai", ("https://proxy.example/v1",), "PROXY_KEY")})
    recipe = parse_recipe("name: x\nteacher: {endpoint: local, model: m}\n", owner=owner)
    assert (recipe.teacher.base_url, recipe.teacher.api_key_env) == ("http://127.0.0.1:8080/v1", None)
    default = parse_recipe("name: x\n", owner=owner).teacher  # no endpoint, no URL: the owner's `openai`
    assert (default.endpoint, default.base_url, default.api_key_env) == ("openai", "https://proxy.example/v1",
                                                                          "PROXY_KEY")
    legacy = parse_recipe("name: x\nteacher: {base_url: 'http://127.0.0.1:8080/v1/'}\n", owner=owner).teacher
    assert legacy.endpoint == "local"


def test_an_endpoint_allows_only_its_models():
    owner = owner_config(endpoints={"openai": Endpoint("openai", ("https://api.openai.com/v1",), "OPENAI_API_KEY",
                                                       ("gpt-4o-mini",))})
    with pytest.raises(RecipeError) as err:
        parse_recipe("name: x\nteacher: {model: gpt-4.5-preview}\n", owner=owner)
    assert err.value.problems == ["teacher.model: endpoint openai allows the models gpt-4o-mini, not "
                                  "'gpt-4.5-preview' (line 2)"]


def test_a_fingerprint_does_not_change_with_the_endpoint_name():
    from studio.recipe.fingerprint import fingerprint

    url = "http://127.0.0.1:8080/v1"
    one = owner_config(endpoints={"a": Endpoint("a", (url,), None)})
    two = owner_config(endpoints={"b": Endpoint("b", (url,), None)})
    text = f"name: x\nteacher: {{base_url: '{url}', model: m}}\n"
    assert fingerprint(parse_recipe(text, owner=one), "generate") == fingerprint(parse_recipe(text, owner=two),
                                                                                  "generate")


@pytest.mark.parametrize("name", ["../x", "/etc/x", "x/y", "X", "", "a b"])
def test_a_recipe_name_is_never_a_path(name):
    with pytest.raises(checks.Refused, match="is not a recipe name"):
        checks.recipe_name(name)


def test_a_recipe_naming_an_undeclared_server_is_refused_with_the_nearest_name_and_where_the_config_is_read(tmp_path):
    geo = {"mcpServers": {"geo": {"command": "python", "args": ["-m", "geo"]}}}
    (tmp_path / "mcp.json").write_text(json.dumps(geo))
    owner = load_config(tmp_path / "mcp.json", tmp_path / "studio.duckdb")
    with pytest.raises(RecipeError, match=r"tools\[0\]\.mcp: MCP server `goe` is not declared in "
                       r".*mcp\.json; did you mean `geo`\? \(declared: calculator, geo, search\) \(line 2\)"):
        parse_recipe("name: t\ntools: [{mcp: goe}]\n", "my.yaml", owner)
    assert parse_recipe("name: t\ntools: [{mcp: geo}]\n", "my.yaml", owner).tools[0].mcp == "geo"
    none_found = load_config(None, tmp_path / "studio.duckdb")
    with pytest.raises(RecipeError, match=r"none found: it looks for " + re.escape(str(tmp_path / "mcp.json"))):
        parse_recipe("name: t\ntools: [{mcp: geo}]\n", "my.yaml", none_found)
