"""Playground tab: ask one question (typed, or picked from the recipe's evaluation questions), choose the agents
and the engine, and watch each agent's Thought / Action / Observation steps arrive side by side.

Model text is HTML-escaped before it is placed in the lanes' HTML (`studio.app.cards`), so nothing a model writes
becomes markup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import gradio as gr

from studio.app.cards import lane_html
from studio.app.views import playground as views
from studio.app.views import recipes as recipe_views
from studio.app.views import runs as run_views
from studio.app.views.markdown import esc
from studio.app.views.state import Studio
from studio.recipe.io import RecipeError
from studio.recipe.schema import Agent, EngineName
from studio.stages.playground import ask, gold_source, question_for

AGENTS: tuple[str, ...] = get_args(Agent)
RECIPE_ENGINE = "recipe's engine"
CHOSEN: list[str] = ["prompted", "finetuned"]  # the agents checked when the page opens


def create_playground_tab(studio: Studio) -> dict[str, Any]:
    """Build the Playground tab; returns its components."""
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        recipe = gr.Dropdown(choices=recipe_views.recipe_names(studio), value=None, label="recipe", scale=2,
                             elem_id="play-recipe", allow_custom_value=True)
        agents = gr.CheckboxGroup(list(AGENTS), value=CHOSEN, label="agents", scale=2,
                                  elem_id="play-agents")
        engine = gr.Dropdown([RECIPE_ENGINE, *get_args(EngineName)], value=RECIPE_ENGINE, label="engine", scale=1,
                             elem_id="play-engine")
    pick = gr.Dropdown(choices=[], value=None, label="pick one of the recipe's evaluation questions",
                       elem_id="play-pick", allow_custom_value=True)
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        question = gr.Textbox(label="question", placeholder="Type a question for the agents", scale=5,
                              elem_id="play-question")
        go = gr.Button("Ask", variant="primary", scale=1, min_width=100, elem_id="play-ask")
    message = gr.Markdown(elem_id="play-message")
    with gr.Row(equal_height=False):
        lanes = [gr.HTML(elem_id=f"play-lane-{agent}", visible=agent in CHOSEN) for agent in AGENTS]

    def run(name: str, text: str, chosen: list[str], engine_name: str) -> Iterator[list[Any]]:
        blank = [""] * len(AGENTS)
        problem = run_views.busy_message(studio, "the playground")
        if not name:
            problem = "⚠ pick a recipe first"
        elif not (text or "").strip():
            problem = "⚠ type or pick a question"
        elif not chosen:
            problem = "⚠ choose at least one agent"
        if problem:
            yield [problem, *blank]
            return
        try:
            recipe_obj = recipe_views.load_saved(studio, name)
        except KeyError:
            yield [f"⚠ there is no recipe named {esc(name)}: pick one from the list", *blank]
            return
        except RecipeError as exc:
            yield [f"⚠ recipe {esc(name)} is not valid: {esc(str(exc))}", *blank]
            return
        asked = question_for(text, recipe_obj)
        source = gold_source(asked)
        gold = f" (gold answer from {esc(source)})" if source else " (no gold answer: not scored)"
        engine_arg = None if engine_name in (None, RECIPE_ENGINE) else engine_name
        for state in ask(recipe_obj, studio.store, asked, [a for a in AGENTS if a in chosen], engine=engine_arg):
            done = all(lane.status in ("done", "failed") for lane in state.values())
            yield [("answered" if done else "running…") + gold,
                   *(lane_html(state.get(agent), asked) for agent in AGENTS)]

    recipe.change(lambda name: gr.update(choices=views.pick_choices(studio, name), value=None), inputs=recipe,
                  outputs=pick, api_name="playground_questions")
    agents.change(lambda chosen: [gr.update(visible=agent in (chosen or [])) for agent in AGENTS], inputs=agents,
                  outputs=lanes, api_visibility="private")
    pick.input(lambda value: value or gr.skip(), inputs=pick, outputs=question, api_visibility="private")
    go.click(run, inputs=[recipe, question, agents, engine], outputs=[message, *lanes], api_name="playground_ask")
    return {"recipe": recipe, "agents": agents, "engine": engine, "pick": pick, "question": question, "ask": go,
            "message": message, "lanes": lanes}
