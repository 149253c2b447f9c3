"""The playground with a recipe's MCP tools (#26): a scripted teacher calls the built-in calculator server, and
its lane streams tool cards naming the tool's one string parameter."""

from __future__ import annotations

from openai_server import Reply

from studio.app.cards import lane_html
from studio.recipe.schema import Recipe
from studio.stages.playground import ask
from studio.tasks import Question

NO_KEY_ENV = "STUDIO_TEST_UNSET_KEY"


def test_the_playground_gives_the_recipes_tools_and_shows_tool_cards(serve, store, monkeypatch):
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    monkeypatch.delenv("STUDIO_MCP_CONFIG", raising=False)

    def teacher(call) -> Reply:
        if "Observation: 84" in call.prompt:
            return Reply(text="Thought: it is 84.\nAction: finish[84]")
        return Reply(text="Thought: multiply <them>.\nAction: calculate[12 * 7]")

    server = serve(teacher)
    recipe = Recipe.model_validate({
        "name": "calc-playground", "tools": [{"mcp": "calculator"}],
        "teacher": {"base_url": server.url, "api_key_env": NO_KEY_ENV, "model": "scripted", "few_shot_k": 0,
                    "max_steps": 3}})
    question = Question("p1", "arithmetic", None, "What is 12 times 7?", "84")
    *_, lanes = ask(recipe, store, question, ["teacher"])  # the lanes as they stream; the last when all is done
    lane = lanes["teacher"]
    assert lane.status == "done" and lane.text_params == {"calculate": "expression"}
    first = lane.steps[0]
    assert (first.action, first.argument, first.observation) == ("calculate", "12 * 7", "84")
    shown = lane_html(lane, question)
    assert "<code class='tool-name'>calculate</code>" in shown
    assert "{\n  &quot;expression&quot;: &quot;12 * 7&quot;\n}" in shown and "<b>Observation</b> 84" in shown
    assert "multiply &lt;them&gt;." in shown and "✓ right (gold: 84)" in shown
