"""Episodes in the `tools` format (#27) through gradio_client and the share route: the trajectory timeline and the
comparison show their calls as cards (JSON arguments, several calls of one turn, an invalid call's badge), the
`format: tools` marker and the raw chat; a dashboard's share page shows its sample episode the same way."""

from __future__ import annotations

import re

from tests.support.http import get
from tests.support.seeds import seed_tools_run


def assert_tools_cards(shown: str) -> None:
    """The teacher's tools-format episode as cards, with its marker and its raw chat."""
    assert "<span class='format-marker'>format: tools</span>" in shown
    assert shown.count("class='step-card tool-card") == 3  # two calls of one turn, then the invalid call
    assert "{\n  &quot;expression&quot;: &quot;12 * 7&quot;\n}" in shown
    assert "{\n  &quot;expression&quot;: &quot;3 * 4&quot;\n}" in shown and "<b>Observation</b> 12" in shown
    assert "<b>Thought 1</b> Both &lt;products&gt; at once." in shown and "<products>" not in shown
    assert "Thought 2" not in shown  # the turn's second call has no thought of its own
    assert "<code class='tool-name'>lookup</code> <span class='tool-badge tool-badge-invalid'>invalid call" in shown
    assert "{\n  &quot;q&quot;: &quot;12*7&quot;\n}" in shown
    chat = re.search(r"<details class='raw-chat'><summary>raw chat: 8 messages, 1 offered tool</summary>(.*)"
                     r"</details>", shown, re.DOTALL)
    assert chat is not None
    assert "&quot;role&quot;: &quot;tool&quot;,\n    &quot;tool_call_id&quot;: &quot;call_0b&quot;" in chat[1]
    assert "&quot;arguments&quot;: &quot;{\\&quot;expression\\&quot;: \\&quot;3 * 4\\&quot;}&quot;" in chat[1]
    assert "&quot;content&quot;: &quot;Done.\\nAnswer: 84 and 12&quot;" in chat[1]
    assert "<pre class='raw-tools'>" in chat[1] and "&quot;description&quot;: &quot;Evaluate an" in chat[1]


def test_a_tools_format_episode_opens_as_cards_with_its_raw_chat(served):
    run, key, _ = seed_tools_run(served["store"])
    meta, timeline, text = served["client"].predict(run, key, api_name="/open_episode")
    assert "**right**" in meta
    assert_tools_cards(timeline)
    assert "✓ right (gold: 84 and 12)" in timeline
    assert "Action: calculate[3 * 4]" in text  # the whole text: the steps derived from the conversation


def test_the_comparison_shows_a_tools_episode_beside_a_react_one(served):
    from studio.app.views import trajectories as views

    run, teacher, prompted = seed_tools_run(served["store"])
    summary, *_ = served["client"].predict(f"{run}|teacher", f"{run}|prompted", "every paired question",
                                          api_name="/compare")
    assert "**1 paired questions**" in summary
    left, right = views.pair_lanes(served["studio"], f"{run}|teacher", f"{run}|prompted", teacher, prompted)
    assert_tools_cards(left)
    assert "format-marker" not in right and "raw-chat" not in right  # a ReAct episode has no conversation
    assert "<code class='tool-name'>calculate</code>" in right


def test_the_share_page_shows_a_tools_sample_as_cards(served):
    from studio.results.dashboards import save_dashboard

    run, _, _ = seed_tools_run(served["store"])
    status, page, _ = get(f"{served['url']}/dashboards/{save_dashboard(served['store'], [run])}")
    assert status == 200
    teacher = re.search(r"<details class=\"right\"><summary>teacher · arithmetic · react(.*?)</details></details>",
                        page, re.DOTALL)
    assert teacher is not None and "format: tools" in teacher[1]
    assert_tools_cards(teacher[0])
    prompted = re.search(r"<details class=\"wrong\"><summary>prompted · arithmetic · react(.*?)</details>", page,
                         re.DOTALL)
    assert prompted is not None and "format-marker" not in prompted[1]
    assert "<pre>Thought: Multiply.\nAction: calculate[12 * 7]" in prompted[1]  # ReAct samples stay text
    assert ".format-marker" in page and ".raw-chat" in page  # the cards' look travels with the page
