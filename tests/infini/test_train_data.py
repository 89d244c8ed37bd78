import random

import pytest

from eval.tasks import has_adjacent_repeat
from infini.stream import InfiniReader
from infini.train_data import IGNORE, SampleMaker


def chat_maker(tokenizer, **options) -> SampleMaker:
    """A SampleMaker with the real chat turn around the document, 64-token segments."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "\x00"}], tokenize=False, add_generation_prompt=True)
    turn_open, turn_close = prompt.split("\x00")
    return SampleMaker(tokenizer, turn_open, turn_close, segment_len=64, **options)


@pytest.fixture(scope="module")
def maker(tokenizer):
    return chat_maker(tokenizer)


@pytest.mark.parametrize("kind", ["passkey", "niah", "language_modelling"])
def test_samples_have_the_promised_layout_for_every_draw(maker, tokenizer, kind):
    """Random segment counts, tails and needle places (the GPU run crashed on such a draw once)."""
    rng = random.Random(0)
    for _ in range(300):
        S = rng.randint(0 if kind != "language_modelling" else 1, 4)
        tail = rng.randint(8, 48)
        sample = getattr(maker, kind)(rng, S, tail, 0.3)
        assert len(sample.memory_ids) == S * 64
        assert len(sample.final_ids) == len(sample.targets)
        answer = [t for t in sample.targets if t != IGNORE]
        assert answer, "every sample has a loss"
        if kind == "passkey":
            text = tokenizer.decode(sample.memory_ids + sample.final_ids)
            key = tokenizer.decode(answer).split("<")[0].strip(" .")
            assert f"The pass key is {key}." in text and text.rstrip().endswith(key + ".<|im_end|>")
        if kind == "niah":
            key_value = tokenizer.decode(answer).split("for ")[1].split(".")[0]
            key, value = key_value.split(" is ")
            assert f"magic numbers for {key} is: {value}" in tokenizer.decode(sample.memory_ids + sample.final_ids)


def test_reader_turn_matches_training_turn(maker, tiny_llama, tokenizer):
    from infini.model import InfiniModel

    reader = InfiniReader(InfiniModel(tiny_llama), tokenizer)
    assert reader.encode(reader.turn_open) == maker.turn_open


def test_niah_ask_all_asks_for_every_needle_of_one_document(tokenizer):
    asking = chat_maker(tokenizer, niah_needles=6, niah_ask_all=True)
    rng = random.Random(1)
    counts = set()
    for _ in range(40):
        sample = asking.niah(rng, rng.randint(1, 6), rng.randint(8, 48), 0.3)
        asked = []
        for ids, targets in sample.finals():
            assert len(ids) == len(targets)
            key, value = tokenizer.decode([t for t in targets if t != IGNORE]).split("for ")[1].split(".")[0].split(" is ")
            assert f"magic numbers for {key} is: {value}" in tokenizer.decode(sample.memory_ids + ids)
            asked.append(key)
        assert len(set(asked)) == len(asked)  # one question per needle, each for another key
        counts.add(len(asked))
    assert min(counts) == 1 and max(counts) >= 5


@pytest.mark.parametrize("share, expected", [(0.0, 1 - 0.9**6), (0.5, 0.5 + 0.5 * (1 - 0.9**6)), (1.0, 1.0)])
def test_repeat_digit_share_sets_how_many_needle_numbers_repeat_a_digit(tokenizer, share, expected):
    # Uniform 7-digit numbers repeat an adjacent digit with probability 1 - 0.9^6 (each of 6 pairs differs w.p. 0.9).
    maker = chat_maker(tokenizer, repeat_digit_share=share)
    rng = random.Random(7)
    numbers = [maker.number(rng, 7) for _ in range(2000)]
    assert all(len(n) == 7 and n[0] != "0" for n in numbers)
    assert abs(sum(map(has_adjacent_repeat, numbers)) / len(numbers) - expected) < 0.04
    sample = maker.niah(rng, 2, 16, 0.0)  # the asked needle's answer is drawn the same way
    value = tokenizer.decode([t for t in sample.targets if t != IGNORE]).split(" is ")[1].split(".")[0]
    assert value.isdigit() and (share < 1 or has_adjacent_repeat(value))
