"""The playground with a recipe's MCP tools (#26): a scripted teacher calls the built-in calculator server, and
its lane streams tool cards naming the tool's one string parameter."""

from __future__ import annotations

from studio.app.cards import lane_html
from studio.recipe.schema import Recipe
from studio.stages.playground import ask
from studio.tasks import Question
from tests.support.openai_server import Reply

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


def test_a_tools_format_recipe_streams_the_tool_call_runners_cards_and_its_chat(serve, store, monkeypatch):
    """With `format: tools` the playground runs the ToolCallRunner: the scripted teacher answers on the chat API
    with two native calls in one turn, then (once the lane has shown them) its answer; the lane streams the calls
    as tool cards and ends with the conversation."""
    import threading

    from tests.support.openai_server import wire_call

    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    monkeypatch.delenv("STUDIO_MCP_CONFIG", raising=False)
    cards_shown = threading.Event()

    def teacher(call) -> Reply:
        if call.payload["messages"][-1]["role"] == "tool":
            cards_shown.wait(30)
            return Reply(text="Both done.\nAnswer: 84 and 12")
        return Reply(text="Multiply <both>.", tool_calls=[wire_call("calculate", {"expression": "12 * 7"}, "c1"),
                                                          wire_call("calculate", {"expression": "3 * 4"}, "c2")])

    server = serve(teacher)
    recipe = Recipe.model_validate({
        "name": "calc-tools-playground", "format": "tools", "tools": [{"mcp": "calculator"}],
        "teacher": {"base_url": server.url, "api_key_env": NO_KEY_ENV, "model": "scripted", "api": "chat",
                    "few_shot_k": 0, "max_steps": 4}})
    question = Question("p2", "arithmetic", None, "What are 12 times 7 and 3 times 4?", "84 and 12")
    streamed = []
    for lanes in ask(recipe, store, question, ["teacher"]):
        streamed.append(lane_html(lanes["teacher"], question))
        if "tool-card" in streamed[-1]:
            cards_shown.set()
    assert cards_shown.is_set(), "the calls never showed before the answer"
    assert all("format: tools" in shown for shown in streamed)  # marked from the start
    before = next(shown for shown in streamed if "tool-card" in shown)
    assert "raw-chat" not in before and "lane-answer" not in before  # the conversation comes with the answer
    last = streamed[-1]
    assert last.count("class='step-card tool-card'") == 2 and "Thought 2" not in last
    assert "<b>Thought 1</b> Multiply &lt;both&gt;." in last and "<b>Observation</b> 12" in last
    assert "{\n  &quot;expression&quot;: &quot;3 * 4&quot;\n}" in last and "✓ right (gold: 84 and 12)" in last
    assert "raw chat: 6 messages, 1 offered tool" in last and "&quot;tool_call_id&quot;: &quot;c2&quot;" in last
