"""Held-out retrieval tasks, written for evaluation only: facts about invented entities in phrasings no
training data uses, asked about in other words.

    facts                    one fact (at `depth`), the question paraphrases it
    facts_2hop               "A's X is B" (at `depth`) and "B's Y is C" (elsewhere); the question asks for A's Y
    facts_unanswerable       a fact about one entity; the question asks the same about another, never mentioned
    facts_2hop_unanswerable  a two-hop chain; the question asks through an entity that is not in it

Answers are words, names, phrases of several words, years, times and numbers of one to six digits;
scored with `phrase` (the answer as whole words in the reply, so 42 is not found in 420000), the
unanswerable ones with `abstains` (the reply says the document does not tell). The names, word lists
and templates here are the eval's own: training data must not use them (tests/eval/test_facts.py).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

# ---- invented names: syllables no real word list supplies ------------------------------------------
ONSETS = ("br", "dr", "f", "g", "k", "l", "m", "n", "p", "qu", "r", "s", "t", "th", "v", "z", "h", "j")
VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou")
CODAS = ("n", "r", "l", "th", "sk", "nd", "m", "rt", "x", "v")
PLACE_ENDINGS = ("mere", "holt", "wick", "ford", "stead", "vale", "crag", "moor")


def invented_word(rng: random.Random, syllables: int) -> str:
    word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables)) + rng.choice(CODAS)
    return word.capitalize()


def person(rng: random.Random) -> str:
    return f"{invented_word(rng, 2)} {invented_word(rng, rng.choice((1, 2)))}"


def place(rng: random.Random) -> str:
    return invented_word(rng, rng.choice((1, 2))) + rng.choice(PLACE_ENDINGS)


# ---- answers of many types ---------------------------------------------------------------------------
SPICES = ("cardamom", "saffron", "sumac", "fenugreek", "star anise", "smoked paprika", "nutmeg", "black cumin")
COLOURS = ("teal", "crimson", "ochre", "pale lilac", "forest green", "charcoal grey", "mustard yellow", "ivory white")
INSTRUMENTS = ("oboe", "cello", "hurdy-gurdy", "bassoon", "harp", "viola da gamba", "marimba", "bagpipes")
FRUITS = ("quinces", "apricots", "damsons", "mulberries", "persimmons", "greengages", "medlars", "pears")
JOBS = ("ferry pilot", "clockmaker", "beekeeper", "glassblower", "cartographer", "tax collector", "bookbinder", "miller")
DISHES = ("barley soup with leeks", "roast chestnuts and honey", "pickled herring on rye", "lentil stew with dates",
          "buckwheat pancakes", "plum dumplings", "smoked trout with dill", "baked apples with cinnamon")
MATERIALS = ("pink granite", "cedar wood", "wrought iron", "river stone", "oak beams", "red brick", "basalt", "limestone")
FLOWERS = ("marigolds", "geraniums", "violets", "snapdragons", "foxgloves", "peonies", "asters", "pansies")
LANGUAGES = ("Old Norse", "Latin", "Aramaic", "Middle Welsh", "Occitan", "Gothic", "Sogdian", "Old Irish")
MOTTOS = ("patience builds the wall", "we row together", "light before bread", "the river remembers",
          "slow roots hold fast", "every door a welcome", "salt and silence", "onward through the fog")
TIMES = ("half past six", "a quarter to eight", "seven o'clock", "ten past five", "noon", "nine o'clock")


def number(rng: random.Random) -> str:
    return str(rng.randrange(10 ** (digits := rng.randint(1, 6)) // 10 or 1, 10**digits))


def year(rng: random.Random) -> str:
    return str(rng.randrange(1200, 1990))


def pick(words: tuple[str, ...]) -> Callable[[random.Random], str]:
    return lambda rng: rng.choice(words)


@dataclass(frozen=True)
class Attribute:
    """One kind of fact: how the document states it and how a question asks it ({s}: the subject)."""

    fact: str  # "{s}" and "{a}" (the answer)
    question: str  # "{s}": the subject, as a name or a description ("the closest friend of X")
    answer: Callable[[random.Random], str]
    subject: str  # "person" or "place": what kind of entity the fact is about


ATTRIBUTES = (
    Attribute("{s} never cooks without {a}, the spice they like best.", "Which spice does {s} like most?", pick(SPICES), "person"),
    Attribute("The front door of {s} was painted {a} last spring.", "Which colour was used on the entrance of {s}?", pick(COLOURS), "place"),
    Attribute("{s} grew up in a small town called {a}.", "In which town did {s} spend their childhood?", place, "person"),
    Attribute("Exactly {a} stone steps lead up to the chapel of {s}.", "How many stairs must one climb to reach the chapel in {s}?", number, "place"),
    Attribute("The weavers' guild of {s} was founded by {a}.", "Who started the guild of weavers in {s}?", person, "place"),
    Attribute("{s} opened its first school in the year {a}.", "In which year did {s} begin schooling its children?", year, "place"),
    Attribute("Carved over the gate of {s} are the words \"{a}\".", "Which inscription stands above the entrance gate in {s}?", pick(MOTTOS), "place"),
    Attribute("On Sundays {s} plays the {a} in a village band.", "Which instrument does {s} play?", pick(INSTRUMENTS), "person"),
    Attribute("{s} keeps an old tortoise named {a}.", "What is the name of the tortoise that {s} keeps?", lambda rng: invented_word(rng, 2), "person"),
    Attribute("The lighthouse of {s} stands {a} metres from the shore.", "How many metres separate the coast from the lighthouse at {s}?", number, "place"),
    Attribute("The orchards around {s} mostly grow {a}.", "What fruit is grown most in the orchards near {s}?", pick(FRUITS), "place"),
    Attribute("Before retiring, {s} spent forty years as a {a}.", "What was the profession of {s} before retirement?", pick(JOBS), "person"),
    Attribute("At every harvest feast {s} serves {a}.", "What dish is served by {s} at the harvest feast?", pick(DISHES), "person"),
    Attribute("The river running through {s} is known as the {a}.", "What is the river that flows through {s} called?", lambda rng: invented_word(rng, 2), "place"),
    Attribute("Around {a} people live in {s} today.", "What is the population of {s}?", number, "place"),
    Attribute("{s} learned to paint from {a}.", "Who taught {s} how to paint?", person, "person"),
    Attribute("The old bridge of {s} is built entirely of {a}.", "What was the ancient bridge at {s} constructed from?", pick(MATERIALS), "place"),
    Attribute("The great bell of {s} weighs {a} kilograms.", "How many kilograms does the largest bell in {s} weigh?", number, "place"),
    Attribute("Each window in {s} holds a box of {a}.", "What flowers fill the window boxes of {s}?", pick(FLOWERS), "place"),
    Attribute("The oldest records of {s} were written in {a}.", "In what language are the earliest records of {s}?", pick(LANGUAGES), "place"),
    Attribute("The market in {s} opens at {a} each morning.", "At what time does the market of {s} open?", pick(TIMES), "place"),
    Attribute("{s} was born in {a}.", "What year was {s} born?", year, "person"),
    Attribute("The best friend of {s}'s youth was a boy called {a}.", "Who was the closest companion of {s} as a child?", person, "person"),
    Attribute("{s} owns a boat whose sails are {a}.", "What colour are the sails of the boat that {s} owns?", pick(COLOURS), "person"),
)
PERSON_ATTRIBUTES = tuple(a for a in ATTRIBUTES if a.subject == "person")


@dataclass(frozen=True)
class Bridge:
    """A link from A to a person B: stated in the document, described in the two-hop question."""

    fact: str  # "{s}": A, "{b}": B
    description: str  # B described through A, to stand in a question's subject


BRIDGES = (
    Bridge("{s}'s closest friend is a sailor named {b}.", "the closest friend of {s}"),
    Bridge("Last summer {s} married {b}.", "the spouse of {s}"),
    Bridge("As a youth {s} was apprenticed to {b}.", "the former master of {s}"),
    Bridge("{s} has one sister, whose name is {b}.", "the sister of {s}"),
    Bridge("{s} hired a gardener called {b}.", "the gardener of {s}"),
    Bridge("The doctor who looks after {s} is {b}.", "the doctor of {s}"),
)


def capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def one_fact(rng: random.Random) -> tuple[str, str, str]:
    """(fact sentence, question, answer) about a fresh entity."""
    attribute = rng.choice(ATTRIBUTES)
    subject = person(rng) if attribute.subject == "person" else place(rng)
    answer = attribute.answer(rng)
    return capitalise(attribute.fact.format(s=subject, a=answer)), attribute.question.format(s=subject), answer


def two_hop(rng: random.Random) -> tuple[list[str], str, str, str]:
    """(two fact sentences, question through the bridge, answer, the bridge entity)."""
    a, b = person(rng), person(rng)
    bridge, attribute = rng.choice(BRIDGES), rng.choice(PERSON_ATTRIBUTES)
    answer = attribute.answer(rng)
    facts = [capitalise(bridge.fact.format(s=a, b=b)), capitalise(attribute.fact.format(s=b, a=answer))]
    return facts, attribute.question.format(s=bridge.description.format(s=a)), answer, b


def unanswerable(rng: random.Random) -> tuple[str, str]:
    """(a fact about one entity, the same question about another that the document never mentions)."""
    attribute = rng.choice(ATTRIBUTES)
    make = person if attribute.subject == "person" else place
    stated, asked = make(rng), make(rng)
    while asked == stated:
        asked = make(rng)
    return capitalise(attribute.fact.format(s=stated, a=attribute.answer(rng))), attribute.question.format(s=asked)


def two_hop_unanswerable(rng: random.Random) -> tuple[list[str], str]:
    """A two-hop chain, asked through a bridge from someone who is not in the document."""
    facts, _, _, _ = two_hop(rng)
    bridge, attribute = rng.choice(BRIDGES), rng.choice(PERSON_ATTRIBUTES)
    return facts, attribute.question.format(s=bridge.description.format(s=person(rng)))
