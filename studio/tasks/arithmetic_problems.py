"""Arithmetic word problems of one to three operations, drawn from templates by a seeded random generator.

Each problem carries the calculator expression that solves it and, when it has several operations, the
same calculation in parts, so a program can record worked solutions (arithmetic_trajectories.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from studio.tasks.arithmetic_calculator import calculate

SIZES = {"test": 100, "train": 500}  # test is drawn first, so growing train leaves test as it is

NAMES = ("Maya", "Liam", "Ava", "Noah", "Zoe", "Omar", "Priya", "Lucas", "Mei", "Diego", "Sara", "Tom", "Ines", "Kofi")
ITEMS = ("notebooks", "pens", "sandwiches", "tickets", "muffins", "bottles of juice", "packs of cards",
         "bus passes", "plants", "comic books")
THINGS = ("stickers", "marbles", "cookies", "pencils", "stamps", "seashells", "beads")
GOODS = ("jacket", "bicycle", "lamp", "backpack", "pair of shoes", "guitar", "desk chair")


@dataclass(frozen=True)
class Step:
    """One calculator call of a worked solution; `expression` names earlier results as {0}, {1}, ..."""

    thought: str
    expression: str


@dataclass(frozen=True)
class Problem:
    """A word problem and its solution: the whole calculation, and for multi-step problems its parts."""

    question: str
    expression: str
    need: str  # what is asked, as in "I need <need>."
    what: str  # the answer's name, as in "So <what> is 14.75."
    steps: tuple[Step, ...] = ()  # empty: one operation, solved by one call


def _money(rng: random.Random, low: int, high: int, step: int = 25) -> str:
    """A price in dollars with cents, from low to high cents."""
    cents = rng.randrange(low, high + 1, step)
    return f"{cents // 100}.{cents % 100:02d}"


def _shopping(rng: random.Random) -> Problem:
    name = rng.choice(NAMES)
    items1, items2 = rng.sample(ITEMS, 2)
    n1, n2 = rng.randint(2, 9), rng.randint(2, 9)
    p1, p2 = _money(rng, 50, 1500), _money(rng, 50, 1500)
    bought = f"{n1} {items1} at ${p1} each and {n2} {items2} at ${p2} each"
    return Problem(
        f"{name} buys {bought}. How much does {name} spend in dollars?",
        f"{n1} * {p1} + {n2} * {p2}", f"the total cost of {bought}", "the total cost in dollars",
        (Step(f"First the {items1}: {n1} at ${p1} each.", f"{n1} * {p1}"),
         Step(f"Then the {items2}: {n2} at ${p2} each.", f"{n2} * {p2}"),
         Step("Adding the two gives the total.", "{0} + {1}")),
    )


def _change(rng: random.Random) -> Problem:
    name = rng.choice(NAMES)
    items = rng.choice(ITEMS)
    n, price = rng.randint(2, 6), _money(rng, 100, 1200)
    bill = next(b for b in (20, 50, 100) if b > n * float(price))
    return Problem(
        f"{name} buys {n} {items} at ${price} each and pays with a ${bill} bill. "
        f"How much change does {name} get in dollars?",
        f"{bill} - {n} * {price}", f"${bill} minus the cost of {n} {items} at ${price} each", "the change in dollars",
        (Step(f"The {items} cost {n} times ${price}.", f"{n} * {price}"),
         Step(f"The change is ${bill} minus that.", f"{bill} - {{0}}")),
    )


def _sharing(rng: random.Random) -> Problem:
    name, things, k = rng.choice(NAMES), rng.choice(THINGS), rng.randint(3, 12)
    kind = rng.randrange(3)
    if kind == 0:
        total = k * rng.randint(2, 40)
        return Problem(f"{total} {things} are shared equally among {k} children. "
                       f"How many {things} does each child get?", f"{total} / {k}",
                       f"{total} {things} divided by {k}", f"each child's share of {things}")
    if kind == 1:
        keep = rng.randint(1, 20)
        total = k * rng.randint(2, 30) + keep
        return Problem(
            f"{name} has {total} {things}, keeps {keep} and shares the rest equally among {k} friends. "
            f"How many {things} does each friend get?",
            f"({total} - {keep}) / {k}", f"what is left of {total} {things} after keeping {keep}, split {k} ways",
            f"each friend's share of {things}",
            (Step(f"After keeping {keep}, {name} shares the rest.", f"{total} - {keep}"),
             Step(f"That is split among {k} friends.", f"{{0}} / {k}")),
        )
    each = rng.randrange(800, 6000, 5)
    bill = f"{each * k // 100}.{each * k % 100:02d}"
    return Problem(f"A restaurant bill of ${bill} is split equally among {k} friends. "
                   f"How much does each pay in dollars?", f"{bill} / {k}", f"${bill} divided by {k}",
                   "each friend's payment in dollars")


def _percent(rng: random.Random) -> Problem:
    pct = rng.choice((5, 10, 12, 15, 20, 25, 30, 40, 60, 75))
    kind = rng.randrange(3)
    if kind == 0:
        n = rng.randrange(20, 1001, 20)
        return Problem(f"What is {pct}% of {n}?", f"{pct}% * {n}", f"{pct}% of {n}", f"{pct}% of {n}")
    if kind == 1:
        good, price = rng.choice(GOODS), rng.randint(20, 300)
        return Problem(
            f"A {good} costs ${price}. It is on sale at {pct}% off. What is the sale price in dollars?",
            f"{price} - {price} * {pct}%", f"the price of a ${price} {good} after {pct}% off", "the sale price",
            (Step(f"The discount is {pct}% of ${price}.", f"{price} * {pct}%"),
             Step("The sale price is the price minus the discount.", f"{price} - {{0}}")),
        )
    pop = rng.randrange(1000, 50001, 100)
    return Problem(
        f"A town had {pop} people. Its population grew by {pct}%. How many people live there now?",
        f"{pop} * (1 + {pct} / 100)", f"{pop} increased by {pct}%", "the new population",
        (Step(f"The growth is {pct}% of {pop}.", f"{pop} * {pct} / 100"),
         Step("Add it to the old population.", f"{pop} + {{0}}")),
    )


def _rate(rng: random.Random) -> Problem:
    kind = rng.randrange(4)
    if kind == 0:
        speed, hours = rng.randrange(30, 121, 5), rng.choice((0.5, 1.5, 2, 2.5, 3, 3.5, 4))
        return Problem(f"A car travels at {speed} km/h for {hours} hours. How many kilometers does it travel?",
                       f"{speed} * {hours}", f"the distance at {speed} km/h for {hours} hours", "the distance in km")
    if kind == 1:
        speed, hours = rng.randint(40, 90), rng.randint(2, 6)
        return Problem(f"A train covers {speed * hours} km in {hours} hours. What is its average speed in km/h?",
                       f"{speed * hours} / {hours}", f"{speed * hours} km divided by {hours} hours",
                       "the average speed in km/h")
    if kind == 2:
        name, wage = rng.choice(NAMES), _money(rng, 1000, 3000, 50)
        hours, weeks = rng.randint(10, 40), rng.randint(2, 8)
        return Problem(
            f"{name} earns ${wage} per hour and works {hours} hours a week. "
            f"How much does {name} earn in {weeks} weeks?",
            f"{wage} * {hours} * {weeks}", f"{name}'s pay for {weeks} weeks of {hours} hours at ${wage} an hour",
            f"{name}'s pay in dollars",
            (Step("The weekly pay first.", f"{wage} * {hours}"),
             Step(f"Then times {weeks} weeks.", f"{{0}} * {weeks}")),
        )
    rate, minutes = rng.randint(10, 40), rng.randint(3, 15)
    return Problem(f"A printer prints {rate} pages per minute. How many minutes does it take to print "
                   f"{rate * minutes} pages?", f"{rate * minutes} / {rate}",
                   f"{rate * minutes} pages divided by {rate} pages a minute", "the time in minutes")


def _difference(rng: random.Random) -> Problem:
    name = rng.choice(NAMES)
    kind = rng.randrange(3)
    if kind == 0:
        cost, saved = rng.randint(80, 600), rng.randint(10, 79)
        return Problem(f"{name} is saving for a bicycle that costs ${cost} and has saved ${saved}. "
                       f"How many more dollars does {name} need?", f"{cost} - {saved}",
                       f"${cost} minus the ${saved} saved", "the amount still needed")
    if kind == 1:
        used1, used2 = rng.randint(20, 200), rng.randint(20, 200)
        capacity = used1 + used2 + rng.randint(10, 300)
        return Problem(
            f"A water tank holds {capacity} liters. {used1} liters are used on Monday and {used2} liters on Tuesday. "
            f"How many liters are left?",
            f"{capacity} - {used1} - {used2}", f"{capacity} liters minus {used1} and {used2} liters used",
            "the water left in liters",
            (Step("The water used in total first.", f"{used1} + {used2}"),
             Step(f"Subtract it from the {capacity} liters.", f"{capacity} - {{0}}")),
        )
    morning, drop = rng.randint(-5, 15), rng.randint(3, 20)
    return Problem(f"The temperature was {morning} °C in the morning and fell by {drop} degrees by night. "
                   f"What was the temperature at night in °C?", f"{morning} - {drop}",
                   f"{morning} °C minus {drop} degrees", "the night temperature")


def _average(rng: random.Random) -> Problem:
    name = rng.choice(NAMES)
    a, b, c = (rng.randint(50, 100) for _ in range(3))
    c -= (a + b + c) % 3 if c > 60 else (a + b + c) % 3 - 3
    return Problem(
        f"{name} scored {a}, {b} and {c} on three tests. What is {name}'s average score?",
        f"({a} + {b} + {c}) / 3", f"the average of {a}, {b} and {c}", "the average score",
        (Step("The sum of the scores first.", f"{a} + {b} + {c}"), Step("Divide by the 3 tests.", "{0} / 3")),
    )


def _recipe(rng: random.Random) -> Problem:
    per, servings = rng.randrange(20, 81, 5), rng.randint(2, 6)
    wanted = rng.choice([t for t in range(2, 13) if t != servings])
    return Problem(
        f"A recipe uses {per * servings} grams of flour for {servings} servings. "
        f"How many grams of flour are needed for {wanted} servings?",
        f"{per * servings} / {servings} * {wanted}", f"the flour for {wanted} servings", "the flour in grams",
        (Step("The flour per serving first.", f"{per * servings} / {servings}"),
         Step(f"Then times {wanted} servings.", f"{{0}} * {wanted}")),
    )


TEMPLATES: tuple[Callable[[random.Random], Problem], ...] = (
    _shopping, _change, _sharing, _percent, _rate, _difference, _average, _recipe,
)


def solve_in_steps(problem: Problem) -> list[tuple[str, str]]:
    """(expression, calculator output) of each step, with earlier results filled in."""
    results: list[str] = []
    calls = []
    for step in problem.steps:
        expression = step.expression.format(*results)
        results.append(calculate(expression))
        calls.append((expression, results[-1]))
    return calls


def generate(seed: int) -> dict[str, list[Problem]]:
    """Each split's problems: distinct questions, and step-wise solutions that reach the same answer."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[Problem]] = {}
    for split, size in SIZES.items():
        problems: list[Problem] = []
        while len(problems) < size:
            problem = rng.choice(TEMPLATES)(rng)
            if problem.question in seen:
                continue
            if problem.steps and solve_in_steps(problem)[-1][1] != calculate(problem.expression):
                continue
            seen.add(problem.question)
            problems.append(problem)
        splits[split] = problems
    return splits


