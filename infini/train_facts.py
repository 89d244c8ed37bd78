"""Facts for training, with generators of their own: what the memory learns to store and find.

Invented subjects (projects, ships, machines, firms, archives, people) and relations, each stated in several
sentence forms behind several lead-ins (hundreds of phrasings) and asked about in words the statement does
not use. Answers are invented words, names (some wholly invented), numbers of one to nine digits and
numbers in words, dates, codes, plural goods and phrases of two to seven words, so that no one answer length
is the usual one.
None of this is shared with the eval (eval/facts.py, eval/tasks.py, core/formats.py): no template, word list
or filler; tests/infini/test_train_facts.py checks it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

# ---- invented words: a syllable scheme of their own -------------------------------------------------------
HEADS = ("b", "c", "d", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "w", "y", "ch", "sh", "pl", "gr", "st", "cr")
NUCLEI = ("a", "e", "i", "o", "u", "y", "oo", "ia", "ea")
TAILS = ("", "ck", "ll", "ne", "sh", "tt", "ng", "ry", "ton", "well", "by", "mont", "ard")
GIVEN_NAMES = ("Ada", "Bertil", "Cosima", "Dmitri", "Elif", "Farid", "Greta", "Hamish", "Ines", "Joaquin", "Kalinda",
               "Lorcan", "Mireille", "Nnamdi", "Oksana", "Piet", "Rosalind", "Soren", "Tamsin", "Ulrich", "Wanjiru",
               "Xavier", "Yusuf", "Zofia", "Anselm", "Beatrix", "Casimir", "Delphine", "Emeric", "Fenella")


def coined(rng: random.Random, syllables: int | None = None) -> str:
    syllables = syllables or rng.choice((2, 2, 3))
    return ("".join(rng.choice(HEADS) + rng.choice(NUCLEI) for _ in range(syllables)) + rng.choice(TAILS)).capitalize()


def invented_name(rng: random.Random) -> str:
    return f"{coined(rng)} {coined(rng)}"


def full_name(rng: random.Random) -> str:
    # Half wholly invented: a memory must carry a second word that the first does not predict.
    if rng.random() < 0.5:
        return f"{rng.choice(GIVEN_NAMES)} {coined(rng)}"
    return invented_name(rng)


def digits(rng: random.Random, low: int = 1, high: int = 9) -> str:
    n = rng.randint(low, high)
    return str(rng.randrange(10 ** (n - 1) if n > 1 else 0, 10**n))


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def date(rng: random.Random) -> str:
    day, month, yr = rng.randint(1, 28), rng.choice(MONTHS), rng.randint(1801, 2099)
    return rng.choice((f"{day} {month} {yr}", f"{month} {day}, {yr}"))


def code(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(rng.choice(letters) for _ in range(rng.randint(2, 3))) + "-" + digits(rng, 2, 5)


UNITS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def in_words(n: int) -> str:
    """1 .. 999 as English words: 342 -> 'three hundred and forty-two'."""
    hundreds, rest = divmod(n, 100)
    tens = UNITS[rest] if rest < 20 else TENS[rest // 10] + ("-" + UNITS[rest % 10] if rest % 10 else "")
    if not hundreds:
        return tens
    return f"{UNITS[hundreds]} hundred" + (f" and {tens}" if rest else "")


def number_in_words(rng: random.Random) -> str:
    return in_words(rng.choice((rng.randint(1, 19), rng.randint(20, 99), rng.randint(100, 999))))


# Phrases of two or three words from lists of this file's own (technical things).
ADJECTIVES = ("folded", "triangular", "rusted", "hexagonal", "translucent", "magnetic", "lopsided", "polished",
              "perforated", "striped", "thick-walled", "twin-bladed", "spring-loaded", "brass-capped")
NOUNS = ("spindle", "gasket", "ledger", "sextant", "pulley", "tripod", "abacus", "sprocket", "funnel", "stencil",
         "thermos", "periscope", "metronome", "turnstile", "gyroscope", "hinge", "ratchet", "bobbin")
COMPOUND = ("steam turbine", "printing press", "wind pump", "slide rule", "diving bell", "rope bridge",
            "signal tower", "water clock", "paper mill", "cable car", "tide gauge", "seed drill")


def phrase(rng: random.Random) -> str:
    return rng.choice((f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}", rng.choice(COMPOUND),
                       f"{rng.choice(ADJECTIVES)} {rng.choice(COMPOUND)}"))


def goods(rng: random.Random) -> str:
    """Plural goods, one to three words: 'sprockets', 'magnetic funnels', 'rusted seed drills'."""
    return rng.choice((f"{rng.choice(NOUNS)}s", f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}s",
                       f"{rng.choice(ADJECTIVES)} {rng.choice(COMPOUND)}s"))


PLACES_IN_A_WORKSHOP = ("the bench", "the stove", "the lathe", "the stairs", "the boiler", "the loading door")


def long_phrase(rng: random.Random) -> str:
    """Four to seven words: 'a striped bobbin beside the lathe', 'polished funnels and a wind pump'."""
    return rng.choice((f"a {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} beside {rng.choice(PLACES_IN_A_WORKSHOP)}",
                       f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}s and a {rng.choice(COMPOUND)}",
                       f"never oil the {rng.choice(NOUNS)} twice"))


# ---- subjects ------------------------------------------------------------------------------------------------
SUBJECT_KINDS: dict[str, Callable[[random.Random], str]] = {
    "project": lambda rng: f"project {coined(rng)}",
    "ship": lambda rng: f"the ship {coined(rng)}",
    "machine": lambda rng: f"the {coined(rng)} engine",
    "firm": lambda rng: f"{coined(rng)} and Sons",
    "archive": lambda rng: f"the {coined(rng)} archive",
    "person": full_name,
}


@dataclass(frozen=True)
class Relation:
    """One kind of fact. Statements and questions hold {s} (the subject); statements {a} (the answer)."""

    statements: tuple[str, ...]
    questions: tuple[str, ...]
    answer: Callable[[random.Random], str]
    subjects: tuple[str, ...]  # SUBJECT_KINDS it can be said of


ANY_THING = ("project", "ship", "machine", "firm", "archive")
RELATIONS = (
    Relation(("The code word for {s} is {a}.", "{s} goes by the code word {a}.", "Everyone calls {s} by its code word, {a}.",
              "The password chosen for {s} was {a}."),
             ("What code word is used for {s}?", "By which secret word is {s} known?", "Name the secret term for {s}."),
             coined, ANY_THING),
    Relation(("The serial number of {s} is {a}.", "{s} carries serial number {a}.", "Stamped on {s} is the serial {a}."),
             ("Which serial number does {s} have?", "What number identifies {s}?", "Give the serial of {s}."),
             digits, ("machine", "ship")),
    Relation(("{s} was completed on {a}.", "Work on {s} finished on {a}.", "{s} reached completion on {a}."),
             ("When was {s} done?", "On what date did {s} end?", "What is the completion date of {s}?"),
             date, ANY_THING),
    Relation(("{s} was led by {a}.", "The head of {s} was {a}.", "{a} was in charge of {s}.", "{s} answered to {a}."),
             ("Who ran {s}?", "Which person headed {s}?", "Who was the leader of {s}?"),
             full_name, ("project", "ship", "firm", "archive")),
    Relation(("The budget of {s} came to {a} crowns.", "{s} cost exactly {a} crowns.", "A sum of {a} crowns paid for {s}."),
             ("How much money did {s} need?", "What did {s} cost?", "How many crowns were spent on {s}?"),
             digits, ("project", "ship", "machine")),
    Relation(("The main part of {s} is a {a}.", "At the heart of {s} sits a {a}.", "{s} is built around a {a}."),
             ("What is the central component of {s}?", "Which device lies at the core of {s}?"),
             phrase, ("machine", "ship", "project")),
    Relation(("{s} keeps its files under reference {a}.", "The file reference of {s} is {a}.", "Records of {s} are filed as {a}."),
             ("Under which reference are the papers of {s} stored?", "What filing code belongs to {s}?"),
             code, ANY_THING),
    Relation(("{s} moved to the city of {a}.", "{s} now has its base in {a}.", "The home port of {s} is {a}."),
             ("Where is {s} based?", "In which city can {s} be found?", "What is the location of {s}?"),
             lambda rng: coined(rng) + rng.choice(("burg", "polis", "ham", "ville", "port")), ("ship", "firm", "archive", "person")),
    Relation(("{s} employs {a} workers.", "A staff of {a} works for {s}.", "There are {a} people on the payroll of {s}."),
             ("How many people does {s} employ?", "How large is the workforce of {s}?"),
             digits, ("firm", "archive", "project")),
    Relation(("{s} was founded by {a}.", "{a} set up {s}.", "{s} owes its founding to {a}."),
             ("Who established {s}?", "Which person started {s}?", "Who is the founder of {s}?"),
             full_name, ("firm", "archive", "project")),
    Relation(("The favourite tool of {s} is a {a}.", "{s} never travels without a {a}.", "{s} always carries a {a}."),
             ("Which object does {s} take everywhere?", "What item is {s} most fond of?"),
             phrase, ("person",)),
    Relation(("{s} signs every letter as {a}.", "The pen name of {s} is {a}.", "{s} writes under the name {a}."),
             ("What name does {s} use when writing?", "Under what alias does {s} publish?"),
             coined, ("person",)),
    Relation(("The phone extension of {s} is {a}.", "{s} can be reached on extension {a}.", "Dial {a} to reach {s}."),
             ("Which extension rings for {s}?", "What number should be dialled for {s}?"),
             lambda rng: digits(rng, 3, 5), ("person", "archive", "firm")),
    Relation(("{s} was born on {a}.", "The birthday of {s} is {a}.", "{s} came into the world on {a}."),
             ("When is {s}'s date of birth?", "On which day was {s} born?"),
             date, ("person",)),
    Relation(("{s} weighs {a} tonnes.", "The mass of {s} is {a} tonnes.", "{s} comes in at {a} tonnes."),
             ("How heavy is {s}?", "What is the weight of {s} in tonnes?"),
             digits, ("machine", "ship")),
    Relation(("The motto of {s} reads: {a}.", "{s} chose the motto {a}.", "Over the door of {s} hangs the motto {a}."),
             ("What is the slogan of {s}?", "Which saying does {s} use as its motto?"),
             lambda rng: f"{rng.choice(ADJECTIVES)} as a {rng.choice(NOUNS)}", ("firm", "archive", "project")),
    Relation(("{s} trades mostly in {a}.", "The chief export of {s} is {a}.", "{s} sends crates of {a} abroad."),
             ("What goods does {s} sell overseas?", "Which products earn {s} its money?"),
             goods, ("firm", "ship", "project")),
    Relation(("Friends of {s} call them {a}.", "{s} is known at home as {a}.", "Among neighbours {s} goes by {a}."),
             ("What nickname do people close to {s} use?", "By which familiar name is {s} addressed?"),
             invented_name, ("person",)),
    Relation(("{s} has {a} chimneys.", "Exactly {a} chimneys rise above {s}.", "The roof of {s} carries {a} chimneys."),
             ("How many smokestacks does {s} have?", "Count the flues on top of {s}: how many are there?"),
             number_in_words, ("machine", "firm", "archive")),
    Relation(("The last line in the logbook of {s} reads: {a}.", "{s} ended its log with the words {a}.",
              "Written at the end of the journal of {s}: {a}."),
             ("What was the final entry recorded by {s}?", "How does the closing note of {s} go?"),
             long_phrase, ("ship", "project", "machine")),
)

LEAD_INS = ("", "", "", "According to the records, ", "It is worth noting that ", "For the record, ", "As it happens, ",
            "In short, ", "Note that ", "Some readers will know that ", "By all accounts, ", "It turns out that ")


@dataclass(frozen=True)
class Fact:
    subject: str
    kind: str  # the subject's key in SUBJECT_KINDS
    relation: int  # index into RELATIONS
    answer: str
    sentence: str


def capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def state(rng: random.Random, subject: str, kind: str, relation: int, answer: str) -> Fact:
    lead_in, statement = rng.choice(LEAD_INS), rng.choice(RELATIONS[relation].statements)
    if lead_in and not statement.startswith("{"):  # "In short, the roof of ...", not "In short, The roof of ..."
        statement = statement[0].lower() + statement[1:]
    sentence = lead_in + statement.format(s=subject, a=answer)
    return Fact(subject, kind, relation, answer, capitalise(sentence))


def ask(rng: random.Random, subject: str, relation: int) -> str:
    return capitalise(rng.choice(RELATIONS[relation].questions).format(s=subject))


def new_subject(rng: random.Random, kinds: tuple[str, ...], taken: set[str]) -> tuple[str, str]:
    while True:
        kind = rng.choice(kinds)
        subject = SUBJECT_KINDS[kind](rng)
        if subject not in taken:
            taken.add(subject)
            return subject, kind


def fact_set(rng: random.Random, n: int, taken: set[str] | None = None) -> list[Fact]:
    """n facts with distinct (subject, relation) pairs. After the first, some are distractors: another relation
    of a subject already stated, or the same relation of another subject."""
    facts, taken = [], set() if taken is None else taken
    while len(facts) < n:
        roll = rng.random()
        if facts and roll < 0.3:
            other = rng.choice(facts)
            subject, kind = other.subject, other.kind
            relation = rng.choice([i for i, r in enumerate(RELATIONS) if kind in r.subjects])
        elif facts and roll < 0.6:
            relation = rng.choice(facts).relation
            subject, kind = new_subject(rng, RELATIONS[relation].subjects, taken)
        else:
            relation = rng.randrange(len(RELATIONS))
            subject, kind = new_subject(rng, RELATIONS[relation].subjects, taken)
        if any(f.subject == subject and f.relation == relation for f in facts):
            continue
        facts.append(state(rng, subject, kind, relation, RELATIONS[relation].answer(rng)))
    return facts


# ---- two hops: a link from A to a person B, then a fact about B ------------------------------------------
# (statement with {s}: A and {b}: B, B described through A to stand as a question's subject)
LINKS = (
    ("The chief engineer of {s} is {b}.", "the person who heads the engineering of {s}"),
    ("{s} hired {b} as its lawyer.", "the legal adviser of {s}"),
    ("{b} keeps the accounts of {s}.", "the bookkeeper of {s}"),
    ("The first captain of {s} was {b}.", "the earliest commander of {s}"),
    ("{s} was designed by {b}.", "the designer of {s}"),
    ("The night watchman of {s} is called {b}.", "the guard who works nights at {s}"),
)
PERSON_RELATIONS = tuple(i for i, r in enumerate(RELATIONS) if "person" in r.subjects)


def two_hop(rng: random.Random, taken: set[str]) -> tuple[list[Fact], str, str]:
    """(the link as a Fact, the fact about B), the question through the link, the answer."""
    a, _ = new_subject(rng, ANY_THING, taken)
    b, _ = new_subject(rng, ("person",), taken)
    statement, description = rng.choice(LINKS)
    relation = rng.choice(PERSON_RELATIONS)
    answer = RELATIONS[relation].answer(rng)
    link_fact = Fact(a, "link", -1, b, capitalise(rng.choice(LEAD_INS) + statement.format(s=a, b=b)))
    question = ask(rng, description.format(s=a), relation)
    return [link_fact, state(rng, b, "person", relation, answer)], question, answer
