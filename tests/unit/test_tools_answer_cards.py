"""A `tools`-format episode's cards show what the agent did (#35.6): it ends with a plain assistant message, so its last
card is that answer, not the `finish[...]` step and the "reward = False" observation the loop records for it; the
score is the lane's verdict. A ReAct episode's card keeps its finish[...], which is what that agent wrote."""

from __future__ import annotations

from studio.app.cards import lane_html, stored_lane, stored_question
from studio.results.dashboards import build_dashboard
from studio.results.share_page import render_html
from studio.trajectories.episode import Episode, Step
from studio.trajectories.messages import AGENT_SYSTEM

QUESTION = "What is 12 times -347?"
STEPS = [Step("Multiply.", "calculate", "12 * -347", "-4164"), Step("Add the rest.", "finish", "-4172")]


def stored(store, episode_format: str) -> dict:
    """The episode as the Trajectories tab reads it back: scored wrong, with the loop's reward observation."""
    steps = [Step(**vars(s)) for s in STEPS]
    steps[-1].observation = "Episode finished, reward = False"
    extra = {}
    if episode_format == "tools":
        extra = {"format": "tools", "messages": [
            {"role": "system", "content": AGENT_SYSTEM}, {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "Multiply.", "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "calculate", "arguments": '{"expression": "12 * -347"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "calculate", "content": "-4164"},
            {"role": "assistant", "content": "Add the rest.\nAnswer: -4172"}]}
    run = store.create_run("calc evaluate", "evaluate", {"name": "calc"}, "calc")
    episode = Episode(task="arithmetic", question_id="a1", question=QUESTION, method="react", agent="teacher",
                      gold="-4164", steps=steps, prediction="-4172", correct=False, em=0.0, finished=True, **extra)
    store.add_episodes(run, [episode])
    store.set_run_status(run, "done")
    return store.trajectories(run, key=episode.key)[0]


def test_a_tools_episodes_last_card_is_the_answer_it_wrote(store):
    row = stored(store, "tools")
    shown = lane_html(stored_lane(row), stored_question(row))
    assert "finish[" not in shown and "reward = " not in shown and "Episode finished" not in shown.split("raw-chat")[0]
    assert "<div class='step-card answer-card'><div><b>Thought 2</b> Add the rest.</div>" in shown
    assert "<b>Answered</b> -4172</div>" in shown
    assert "<b>Answer</b> -4172 <span class='verdict'>✗ wrong (gold: -4164)</span>" in shown  # the score: the verdict


def test_a_tools_sample_on_the_share_page_shows_the_answer_it_wrote(store):
    row = stored(store, "tools")
    page = render_html(build_dashboard(store, [row["run_id"]]))
    assert "<summary>teacher · arithmetic · react" in page and "<b>wrong</b>" in page  # the score: the summary
    assert "<b>Answered</b> -4172" in page and "finish[" not in page and "reward = False" not in page


def test_a_react_episodes_finish_card_stays_what_the_agent_wrote(store):
    row = stored(store, "react")
    shown = lane_html(stored_lane(row), stored_question(row))
    assert "<code>finish[-4172]</code>" in shown and "Episode finished, reward = False" in shown
    assert "answer-card" not in shown
