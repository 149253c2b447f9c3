"""Agents with MCP tools in the studio (#26) through gradio_client: the Recipes tab's tools check, and a stored
tool call read as a tool card."""

from __future__ import annotations

CALCULATOR = "name: calc-tools\ntools: [{mcp: calculator}]\n"


def test_check_tools_lists_a_declared_servers_tools_and_names_an_undeclared_one(served, monkeypatch):
    monkeypatch.delenv("STUDIO_MCP_CONFIG", raising=False)  # the built-in servers only
    client = served["client"]
    shown = client.predict(CALCULATOR, api_name="/check_tools")
    assert "<b>MCP config</b>: none (the built-in servers calculator and search only)" in shown
    assert "<code>calculator</code>, <code>search</code>" in shown  # the names a recipe may use in `mcp:`
    assert "tools[0] mcp <code>calculator</code></b>: ✓ 1 tool" in shown and "<code>calculate</code> — " in shown
    assert "&quot;expression&quot;" in shown and "every tool can be offered" in shown

    # an undeclared server is a recipe error at its field, with the nearest declared name (#35)
    missing = client.predict("name: calc-tools\ntools: [{mcp: calculator}, {mcp: calculater}]\n",
                             api_name="/check_tools")
    assert "the recipe is not valid" in missing and "tools[1].mcp" in missing
    assert "did you mean `calculator`?" in missing

    broken = client.predict("name: calc-tools\ntools: [{mcp: calculator, timeout_s: -1}]\n", api_name="/check_tools")
    assert "the recipe is not valid" in broken and "tools[0].timeout_s" in broken


def test_a_stored_tool_call_opens_as_a_tool_card(served):
    from studio.trajectories.episode import Episode, Step

    store = served["store"]
    listing = [{"name": "calculate", "description": "arithmetic", "server": "calculator", "version": None,
                "input_schema": {"properties": {"expression": {"type": "string"}}, "required": ["expression"]}}]
    run = store.create_run("calc evaluate", "evaluate", {"name": "calc"}, "calc", tools=listing)
    steps = [Step("add", "calculate", "2+3", "5"), Step("", "finish", "5")]
    episode = Episode(task="arithmetic", question_id="a1", question="2+3?", method="react", agent="prompted",
                      gold="5", steps=steps, prediction="5", correct=True, finished=True)
    store.add_episodes(run, [episode])
    store.set_run_status(run, "done")
    _, timeline, _ = served["client"].predict(run, episode.key, api_name="/open_episode")
    assert "class='step-card tool-card'" in timeline and "<code class='tool-name'>calculate</code>" in timeline
    assert "{\n  &quot;expression&quot;: &quot;2+3&quot;\n}" in timeline and "<b>Observation</b> 5" in timeline


def test_the_recipes_tab_shows_the_mcp_config_in_use_and_reloads_it_after_an_edit(served, monkeypatch, tmp_path):
    """A server the owner adds to the config file is listed, and a recipe naming it validates, after Reload and
    without a restart; the panel never shows a server's arguments, environment or a URL's query (secrets)."""
    import json
    import sys

    client = served["client"]
    config = tmp_path / "mcp.json"
    config.write_text("{}")
    monkeypatch.setenv("STUDIO_MCP_CONFIG", str(config))
    geo = "name: geo-tools\nformat: tools\ntools: [{mcp: geo}]\n"
    shown, problems, *_ = client.predict(geo, api_name="/reload_owner_config")
    assert f"<b>MCP config in use</b>: <code>{config}</code>" in shown
    assert "<code>calculator</code>: built in" in shown and "geo" not in shown.split("An example")[0]
    assert "tools[0].mcp" in problems and "is not declared" in problems
    assert "&quot;mcpServers&quot;" in shown  # the example to copy

    config.write_text(json.dumps({"mcpServers": {
        "geo": {"command": sys.executable, "args": ["geo.py", "--token", "s3cret"], "env": {"K": "${GEO_KEY}"}},
        "maps": {"url": "http://127.0.0.1:9000/mcp?key=s3cret"}}}))
    shown, problems, *_ = client.predict(geo, api_name="/reload_owner_config")
    assert f"<code>geo</code>: a program, <code>{sys.executable.rsplit('/', 1)[-1]}</code> (stdio)" in shown
    assert "<code>maps</code>: HTTP <code>http://127.0.0.1:9000/mcp</code>" in shown
    assert "s3cret" not in shown and "GEO_KEY" not in shown and "geo.py" not in shown
    assert "is not declared" not in problems and "✓" in problems

    config.write_text("{oops")
    shown, problems, *_ = client.predict(geo, api_name="/reload_owner_config")
    assert "recipe-problems" in shown and f"{config} line 1" in shown
    assert "cannot check the recipe: the studio&#x27;s config: " in problems and f"{config} line 1" in problems
    monkeypatch.delenv("STUDIO_MCP_CONFIG")
    shown, *_ = client.predict(geo, api_name="/reload_owner_config")
    assert "none found; the studio looks for <code>" in shown and "mcp.json</code>" in shown
