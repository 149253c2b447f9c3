"""What issue #35 found cut or covered, measured in Chromium: the compare table shows the gold and both answers of
a long question without a scrollbar of its own, the share page's scores table fits a desktop window (and on a
narrow one scrolls in its own box, its edge shaded), no figure's legend lies over an axis title, its tick labels
or the figure's title, and the estimate's table breaks no word in two."""

from __future__ import annotations

import itertools

import pytest

from tests.support.browser import SHOTS, UI_TIMEOUT_MS, choose, tab

pytestmark = pytest.mark.slow

QUESTION = ("What movie did actress Irene Jacob complete before the American action crime thriller film directed by "
            "Stuart Bird, and which studio distributed it in the United States in the year it came out?")
GOLD = "The Double Life of Véronique, distributed by Miramax Films"


def answer(agent: str) -> str:
    return f"{agent} answers Three Colours: Red by Krzysztof Kieślowski"


def busy_episodes():
    """Three agents on two tasks, three methods and two noise levels, of one to six steps: a dashboard whose
    figures have long tick labels and legends of many entries."""
    from studio.trajectories.episode import Episode, Step

    made = []
    for n, (agent, task, method, noise, i) in enumerate(itertools.product(
            ["prompted", "finetuned", "teacher"], ["hotpotqa", "strategyqa"], ["react", "cot", "reflexion"],
            [0.0, 0.5], range(3))):
        right, steps = n % 3 == 0, 1 + n % 6
        made.append(Episode(task=task, split="eval250", question_id=f"q{i}", question=f"Q{i}?", method=method,
                            agent=agent, gold="yes", noise=noise, prediction="yes" if right else "no",
                            steps=[Step("t", "search", "x")] * (steps - 1) + [Step("t", "finish", "yes")],
                            text="Action: finish[yes]\n", em=float(right), f1=float(right), correct=right,
                            finished=True, cost=0.001 * steps, compute_s=float(steps), latency_s=float(steps)))
    return made


ESTIMATED = ("name: {name}\ntrajectories: {{source: import, task: hotpotqa, "
             "path: studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json}}\n"
             "student: {{max_steps: 30, batch_size: 2}}\n"
             "evaluation: {{sets: [{{task: hotpotqa, split: eval250, n: 4}}], local_price_per_hour: 3.6}}\n")


def estimated_before(store) -> None:
    """A trained and evaluated recipe of the same student, which the estimate paces by (so it measures nothing)."""
    from studio.recipe.io import parse_recipe
    from studio.trajectories.episode import Episode

    earlier = parse_recipe(ESTIMATED.format(name="earlier")).model_dump(mode="json")
    train = store.create_run("earlier train", "train", earlier, "earlier")
    for step in range(1, 4):
        store.add_train_metric(train, step, loss=2.0, tokens_per_s=1000.0)
    store.set_run_status(train, "done")
    evaluate = store.create_run("earlier evaluate", "evaluate", earlier, "earlier")
    store.add_episodes(evaluate, [Episode(task="hotpotqa", split="eval250", question_id=f"q{i}", question="Who?",
                                          method="react", agent=agent, compute_s=2.0)
                                  for i, agent in enumerate(["prompted", "finetuned"] * 2)])
    store.set_run_status(evaluate, "done")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The studio over a store with an evaluation of two agents on long questions with long answers, the saved
    dashboard of a busy evaluation, and a recipe to estimate by earlier runs."""
    from storage import Store
    from studio.app.jobs import JobQueue
    from studio.app.server import create_app, running
    from studio.results.dashboards import save_dashboard
    from studio.trajectories.episode import Episode
    from tests.support.seeds import FakeRunner

    tmp = tmp_path_factory.mktemp("fits")
    (tmp / "recipes").mkdir()
    (tmp / "recipes" / "priced.yaml").write_text(ESTIMATED.format(name="priced"))
    with Store(tmp / "studio.duckdb") as store:
        estimated_before(store)
        long = store.create_run("long answers", "evaluate", None, "demo")
        store.add_episodes(long, [Episode(task="hotpotqa", split="eval250", question_id=f"q{i}", question=QUESTION,
                                          method="react", agent=agent, gold=GOLD, prediction=answer(agent), em=0.0,
                                          f1=0.2, correct=False, finished=True, text="Action: finish[x]\n")
                                  for agent in ("prompted", "finetuned") for i in range(3)])
        store.set_run_status(long, "done")
        busy = store.create_run("busy", "evaluate", None, "busy")
        store.add_episodes(busy, busy_episodes())
        store.set_run_status(busy, "done")
        dashboard = save_dashboard(store, [busy], "busy agents")
        app = create_app(store, recipes_dir=tmp / "recipes", jobs=JobQueue(store, FakeRunner(), make_dashboard=False))
        with running(app) as url:
            yield {"url": url, "long": long, "dashboard": dashboard}


def test_the_compare_table_shows_the_gold_and_both_answers_without_its_own_scrollbar(page, served):
    from playwright.sync_api import expect

    tab(page, "Trajectories")
    choose(page, "cmp-a", f"run {served['long']} prompted")
    choose(page, "cmp-b", f"run {served['long']} finetuned")
    page.locator("#cmp-go").click()
    expect(page.locator("#cmp-summary")).to_contain_text("3 paired questions")
    expect(page.locator("#cmp-table").get_by_text(answer("finetuned")).filter(visible=True).first).to_be_visible()
    layout = page.evaluate("""texts => {
      const table = document.querySelector('#cmp-table table'), box = table.parentElement.getBoundingClientRect();
      const cell = text => [...document.querySelectorAll('#cmp-table span.text')]
                             .find(span => span.offsetParent && span.innerText.includes(text));
      const inside = text => { const r = cell(text).getBoundingClientRect();
                               return r.left >= box.left - 1 && r.right <= box.right + 1; };
      return {table: table.scrollWidth, box: table.parentElement.clientWidth, shown: texts.map(inside)};
    }""", [GOLD, answer("prompted"), answer("finetuned")])
    print("compare table layout:", layout)
    assert layout["table"] <= layout["box"] + 1, f"the table is {layout['table']} px in a {layout['box']} px box"
    assert layout["shown"] == [True, True, True], "the gold, A's and B's answers lie inside the table's box"


def open_shared(browser, url: str, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
    page.wait_for_timeout(500)  # plotly lays out the responsive figures after the first frame
    return context, page


def test_the_share_pages_scores_table_fits_a_desktop_window_and_scrolls_visibly_on_a_narrow_one(browser, served):
    url = f"{served['url']}/dashboards/{served['dashboard']}"
    for width, fits in ((1200, True), (800, False)):
        context, page = open_shared(browser, url, width)
        try:
            box = page.evaluate("""() => { const box = document.querySelector('.table'), style = getComputedStyle(box);
              return {table: box.scrollWidth, box: box.clientWidth, scrolls: style.overflowX,
                      shade: style.backgroundImage, page: document.documentElement.scrollWidth}; }""")
            print(width, "scores table:", box)
            assert box["page"] <= width, "the page itself never scrolls sideways"
            if fits:
                assert box["table"] <= box["box"], f"columns cut: the table is {box['table']} px in {box['box']}"
            else:  # headless Chromium draws no scrollbars: the shade at the box's edge is what says there is more
                assert box["table"] > box["box"] and box["scrolls"] == "auto", box
                assert "radial-gradient" in box["shade"], "the box's edge is shaded where columns lie beyond it"
        finally:
            context.close()


# Each figure's legend box against its title's, its x-axis title's, its x tick labels' and its plot area's.
LEGENDS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
  const box = selector => { const el = plot.querySelector(selector); return el && el.getBoundingClientRect(); };
  const over = (a, b) => !!(a && b && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom);
  const legend = box('.legend .bg');
  return {title: plot.querySelector('.gtitle').textContent,
          covers: ['.gtitle', '.g-xtitle', '.xaxislayer-above', '.nsewdrag'].filter(s => over(legend, box(s)))};
})"""


@pytest.mark.parametrize("width", (1200, 500))
def test_no_legend_covers_a_title_or_the_tick_labels(browser, served, width):
    context, page = open_shared(browser, f"{served['url']}/dashboards/{served['dashboard']}", width)
    try:
        figures = page.evaluate(LEGENDS_JS)
        assert "Robustness to noisy search" in [f["title"] for f in figures]
        assert not [f for f in figures if f["covers"]], figures
        page.screenshot(path=str(SHOTS / f"dashboard-legends-{width}.png"), full_page=True)
    finally:
        context.close()


# Every place where a cell's text continues on the next line between two letters: a word broken in two.
BROKEN_WORDS_JS = """() => {
  const broken = [], range = document.createRange();
  for (const cell of document.querySelectorAll('#run-message td, #run-message th')) {
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
      const text = node.textContent;
      let top = null;
      for (let i = 0; i < text.length; i++) {
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect) continue;
        if (top !== null && Math.round(rect.top) > top && /\\w/.test(text[i - 1]) && /\\w/.test(text[i]))
          broken.push(text.slice(Math.max(0, i - 8), i) + '|' + text.slice(i, i + 8));
        top = Math.round(rect.top);
      }
    }
  }
  const table = document.querySelector('#run-message table');
  return {broken, table: table.getBoundingClientRect().width,
          box: document.querySelector('#run-message').getBoundingClientRect().width};
}"""


@pytest.mark.parametrize("width", (1000, 600))
def test_the_estimate_table_breaks_no_word_in_two(page, width):
    """Gradio's table CSS (`overflow-wrap: anywhere`) broke "generate" into "gene" and "rate" in a narrow column;
    the table's paths break after a `/` or `.` instead."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 1000})
    tab(page, "Runs")
    choose(page, "run-recipe", "priced")
    page.locator("#run-estimate").click()
    expect(page.locator("#run-message table")).to_contain_text("every stage above")
    layout = page.evaluate(BROKEN_WORDS_JS)
    print(width, "estimate table:", layout)
    assert not layout["broken"], f"words broken in two: {layout['broken']}"
    assert layout["table"] <= layout["box"] + 1, layout
