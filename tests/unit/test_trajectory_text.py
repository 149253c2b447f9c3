"""Trajectory text: parsing steps, final answers and the method of a recorded trajectory."""

from studio.trajectories.episode import Step, detect_method, final_answer, parse_action, parse_steps, render_steps

REACT = (
    "Thought: I need to search Scott Derrickson.\nAction: search[Scott Derrickson]\n"
    "Observation: Scott Derrickson (born July 16, 1966) is an American director.\n"
    "Thought: Both are American.\nAction: finish[yes]\nObservation: Episode finished, reward = True\n"
)


def test_react_text_parses_into_steps():
    steps = parse_steps(REACT)
    assert steps == [
        Step("I need to search Scott Derrickson.", "search", "Scott Derrickson",
             "Scott Derrickson (born July 16, 1966) is an American director."),
        Step("Both are American.", "finish", "yes", "Episode finished, reward = True"),
    ]
    assert final_answer(steps) == "yes"
    assert render_steps(steps) == REACT


def test_numbered_markers_and_multiline_observation():
    steps = parse_steps("Thought 1: a\nAction 1: Search[x]\nObservation 1: line one\nline two\nThought 2: b\n")
    assert steps[0].action == "search" and steps[0].observation == "line one\nline two"
    assert steps[1].thought == "b" and final_answer(steps) is None


def test_unparseable_action_is_kept_and_marked_invalid():
    steps = parse_steps("Thought: hmm\nAction: I will look it up\nObservation: Invalid action.\n")
    assert steps[0].action == "invalid" and steps[0].argument == "I will look it up"


def test_answer_with_brackets_survives():
    assert parse_action("finish[The Lord of the Rings [film]]") == ("finish", "The Lord of the Rings [film]")


def test_detect_methods():
    assert detect_method(parse_steps(REACT)) == "react"
    cot = parse_steps("Thought: Paris is the capital. So the answer is Paris.\nAction: finish[Paris]\n")
    assert detect_method(cot) == "cot"
    reflexion = parse_steps(
        "Thought: a\nAction: search[x]\nObservation: y\n"
        "Thought: Now that I haven't solved the task within 5 steps, let me do a reflection.\n"
        "Action: search[z]\nObservation: w\nThought: c\nAction: finish[d]\n"
    )
    assert detect_method(reflexion) == "reflexion"
