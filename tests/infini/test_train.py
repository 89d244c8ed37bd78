import copy

import torch

from infini import InfiniConfig, InfiniModel
from infini.model import mark_trainable
from infini.train import batch_loss
from infini.train_data import IGNORE, Sample, collate


def trainable_deltanet(lm) -> InfiniModel:
    model = InfiniModel(copy.deepcopy(lm), InfiniConfig(segment_len=16, update_rule="deltanet", gate_init=0.0))
    model.train()
    mark_trainable(model.lm)  # as training does: the base weights stay frozen
    return model


def random_ids(seed: int, n: int) -> list[int]:
    return torch.randint(0, 49152, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def test_write_strength_is_the_mean_sigmoid_of_every_write_and_its_gradient_reaches_every_layer(tiny_llama):
    model = trainable_deltanet(tiny_llama)
    seen = []  # an independent record: each write-strength projection's output, as it runs forward
    hooks = [a.memory_beta.register_forward_hook(lambda mod, args, out: seen.append(torch.sigmoid(out.detach())))
             for a in model.attention_layers()]
    sample = Sample(random_ids(1, 48), random_ids(2, 10), [IGNORE] * 7 + random_ids(3, 3))
    memory_ids, final_ids, targets, owner = collate([sample], 0, "cpu")
    loss, strength = batch_loss(model, memory_ids, final_ids, targets, 3, grad_segments=1, owner=owner)
    forward_only = list(seen)  # the checkpointed segment runs its layers again in backward
    for hook in hooks:
        hook.remove()
    assert len(forward_only) == 3 * 3  # 3 memory segments x 3 layers; the final segment writes nothing
    expected = torch.stack([b.mean() for b in forward_only]).mean()
    torch.testing.assert_close(strength.detach(), expected)
    strength.backward()
    # d strength / d bias of layer l, head g = sum over that layer's writes of mean(beta (1 - beta)) / (writes * heads)
    layers, heads = len(model.attention_layers()), forward_only[0].shape[-1]
    for index, attention in enumerate(model.attention_layers()):
        per_write = [b * (1 - b) for b in forward_only[index::layers]]  # (B, T, G) each
        expected_grad = torch.stack([w.mean(dim=(0, 1)) for w in per_write]).sum(0) / (len(forward_only) * heads)
        torch.testing.assert_close(attention.memory_beta.bias.grad, expected_grad)
        assert attention.memory_beta.weight.grad.abs().sum() > 0
    assert loss.requires_grad


def test_questions_sharing_one_memory_give_the_loss_of_asking_each_alone(tiny_llama):
    model = trainable_deltanet(tiny_llama)
    memory = random_ids(4, 32)
    questions = [(random_ids(5, 12), [IGNORE] * 8 + random_ids(6, 4)), (random_ids(7, 9), [IGNORE] * 6 + random_ids(8, 3))]
    together = Sample(memory, *questions[0], more_finals=[questions[1]])
    memory_ids, final_ids, targets, owner = collate([together], 0, "cpu")
    assert final_ids.shape[0] == 2 and owner.tolist() == [0, 0]
    shared, _ = batch_loss(model, memory_ids, final_ids, targets, 2, owner=owner)
    # Reference: each question on its own sample (its own ingestion), mean over all answer tokens.
    total, count = 0.0, 0
    for ids, tg in questions:
        alone, _ = batch_loss(model, *collate([Sample(memory, ids, tg)], 0, "cpu")[:3], 2)
        answered = sum(t != IGNORE for t in tg)
        total, count = total + alone.item() * answered, count + answered
    torch.testing.assert_close(shared.item(), total / count, rtol=1e-5, atol=0)
    # The memory matters here: an empty memory gives another loss.
    empty, _ = batch_loss(model, memory_ids[:, :0], final_ids, targets, 0, owner=owner)
    assert abs(empty.item() - shared.item()) > 1e-4


def test_query_gate_matrices_learn_at_the_adapters_rate_or_their_own_and_gate_scalars_at_the_gates_rate(tiny_llama):
    from infini.adapter import add_lora
    from infini.train import DEFAULTS, make_optimizer

    model = InfiniModel(copy.deepcopy(tiny_llama), InfiniConfig(segment_len=16, update_rule="deltanet", query_gate=True))
    add_lora(model, 2, 4, ["q_proj", "k_proj", "v_proj"])
    mark_trainable(model.lm)
    recipe = {**DEFAULTS, "lr_gate": 0.01, "lr_adapter": 1e-4, "lr_write": 0.02}
    def params_by_lr(optimizer):
        return {g["lr"]: {id(p) for p in g["params"]} for g in optimizer.param_groups}

    optimizer = make_optimizer(model, recipe)
    groups, by_lr = optimizer.param_groups, params_by_lr(optimizer)
    layers = model.attention_layers()
    assert by_lr[0.01] == {id(a.memory_gate) for a in layers}
    assert {id(a.memory_gate_proj.weight) for a in layers} <= by_lr[1e-4]
    assert by_lr[0.02] == {id(p) for a in layers for p in a.memory_beta.parameters()}
    trainable = {id(p) for p in model.lm.parameters() if p.requires_grad}
    assert trainable == set().union(*by_lr.values())  # every trained parameter in exactly one group
    assert sum(len(g["params"]) for g in groups) == len(trainable)
    own = params_by_lr(make_optimizer(model, {**recipe, "lr_query_gate": 3e-3}))
    assert own[3e-3] == {id(a.memory_gate_proj.weight) for a in layers}
    assert not own[3e-3] & own[1e-4]


def test_a_chained_stage_appends_itself_to_its_init_cards_history_and_leaves_it_unchanged():
    from infini.train import DEFAULTS, STAGE_KEYS, chained_stages

    recipe = {**DEFAULTS, "seed": 10, "max_segments": 80, "task_mix": {"passkey": 0.3, "niah": 0.7}}
    history = [{"stage": 1, "steps": 600}, {"stage": 9, "steps": 131, "seed": 9}]
    init_card = {"steps": 131, "stages": history}
    stages = chained_stages(init_card, "a/stage9.safetensors", recipe, "r/stage10.json", 120, 3000.0)
    assert stages[:2] == [{"stage": 1, "steps": 600}, {"stage": 9, "steps": 131, "seed": 9}]
    new = stages[2]
    assert (new["stage"], new["init_adapter"], new["recipe_file"], new["steps"]) == (10, "a/stage9.safetensors", "r/stage10.json", 120)
    assert all(new[key] == recipe[key] for key in STAGE_KEYS) and new["seed"] == 10
    stages[0]["steps"] = 0
    assert history[0]["steps"] == 600  # the init card is not edited through the returned list
    # An init artifact without a history is stage 1 (its own steps), the new one stage 2.
    first = chained_stages({"steps": 600, "train_seconds": 2280.0}, "a/cpu.safetensors", recipe, None, 5, 9.0)
    assert [s["stage"] for s in first] == [1, 2]
    assert (first[0]["artifact"], first[0]["steps"]) == ("a/cpu.safetensors", 600)
    # A sibling of an earlier stage 10 (trained from the same stage 9) carries its own number.
    sibling = chained_stages(init_card, "a/stage9.safetensors", {**recipe, "stage": 12}, "r/stage12.json", 60, 2700.0)
    assert [s["stage"] for s in sibling] == [1, 9, 12]


def test_a_resumed_log_drops_the_rows_after_the_checkpoint_and_carries_the_token_count_on(tmp_path):
    import csv

    from infini.train import open_log

    def steps_and_tokens(path):
        with path.open(newline="") as f:
            return [(int(r["step"]), int(r["tokens"])) for r in csv.DictReader(f)]

    path = tmp_path / "train_log.csv"
    log_file, writer, tokens = open_log(path, 0)
    assert tokens == 0
    for step, tokens_so_far in ((5, 1000), (10, 2500), (15, 4100)):
        writer.writerow({"step": step, "loss": 1.0, "tokens": tokens_so_far})
    log_file.close()
    # Stopped after step 15 was logged, the last checkpoint at step 10: step 15 runs again.
    log_file, writer, tokens = open_log(path, 10)
    assert tokens == 2500
    assert steps_and_tokens(path) == [(5, 1000), (10, 2500)]
    writer.writerow({"step": 15, "loss": 1.0, "tokens": tokens + 1600})
    log_file.close()
    assert steps_and_tokens(path) == [(5, 1000), (10, 2500), (15, 4100)]  # one header, no row twice
    # A checkpoint without its log, and a fresh start over an old log, both begin a new log.
    for name, step in (("missing.csv", 10), ("train_log.csv", 0)):
        log_file, _, tokens = open_log(tmp_path / name, step)
        log_file.close()
        assert tokens == 0 and steps_and_tokens(tmp_path / name) == []


def test_match_loss_is_minus_log_the_heads_mean_chance_of_picking_the_key_that_wrote_the_answer(tiny_llama):
    from infini.adapter import add_lora
    from infini.train import match_loss
    from infini.train_data import answer_spans

    model = trainable_deltanet(tiny_llama)
    add_lora(model, 2, 4, ["q_proj", "k_proj", "v_proj"])
    mark_trainable(model.lm)
    with torch.no_grad():  # LoRA's B starts at zero: move it, so the memory branch's projections differ from the base
        for name, param in model.lm.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.1, generator=torch.Generator().manual_seed(3))
    documents = [random_ids(11, 48), random_ids(12, 48)]  # 3 segments of 16 each
    finals = [(random_ids(13, 10), [IGNORE] * 7 + random_ids(14, 3)), (random_ids(15, 9), [IGNORE] * 5 + random_ids(16, 4)),
              (random_ids(17, 10), [IGNORE] * 6 + random_ids(18, 4)), (random_ids(19, 8), [IGNORE] * 4 + random_ids(20, 4))]
    samples = [Sample(documents[0], *finals[0], more_finals=finals[1:3], answer_spans=[(5, 3), None, (40, 2)]),
               Sample(documents[1], *finals[3], answer_spans=[(20, 4)])]
    memory_ids, final_ids, targets, owner = collate(samples, 0, "cpu")
    log = []
    batch_loss(model, memory_ids, final_ids, targets, 3, owner=owner, segments_per_pass=2, match_log=log)
    loss = match_loss(log, targets, owner, answer_spans(samples), [0, 1], temperature=0.1)

    # Reference: each document written alone, one segment at a time; each question read alone; the formula in loops.
    context, terms = model.context, []
    with torch.no_grad():
        for document, asked in ((documents[0], [(finals[0], (5, 3)), (finals[2], (40, 2))]), (documents[1], [(finals[3], (20, 4))])):
            memory, keys = model.empty_memory(1), {0: [], 1: [], 2: []}
            for segment in torch.tensor([document]).split(16, dim=1):
                context.match_log = []
                _, memory = model.segment_hidden(segment, memory)
                for entry in context.match_log:
                    keys[entry["layer"]].append(entry["keys"][0])  # (G, 16, d)
            for (ids, answer_targets), (start, count) in asked:
                context.match_log = []
                model.segment_hidden(torch.tensor([ids]), memory, write=False)
                queries = {entry["layer"]: entry["queries"][0] for entry in context.match_log}  # (Hq, T, d)
                first = next(i for i, t in enumerate(answer_targets) if t != IGNORE)
                for layer in (0, 1):
                    stored = torch.cat(keys[layer], dim=1)  # (G, 48, d)
                    heads = queries[layer].shape[0]
                    for i in range(count):
                        chances = [torch.softmax(stored[h // (heads // stored.shape[0])] @ queries[layer][h, first + i] / 0.1, dim=0)[start + i]
                                   for h in range(heads)]
                        terms.append(-torch.log(torch.stack(chances).mean()))
    context.match_log = None
    torch.testing.assert_close(loss.detach(), torch.stack(terms).mean(), rtol=1e-4, atol=1e-5)
    # The answers' first tokens only: terms come per (document, question, layer) in runs of the answer's length.
    first_only = match_loss(log, targets, owner, answer_spans(samples), [0, 1], temperature=0.1, tokens=1)
    runs = [count for count in (3, 2, 4) for _ in (0, 1)]
    starts = [sum(runs[:i]) for i in range(len(runs))]
    torch.testing.assert_close(first_only.detach(), torch.stack([terms[i] for i in starts]).mean(), rtol=1e-4, atol=1e-5)

    loss.backward()
    layers = model.attention_layers()
    for index, attention in enumerate(layers):  # layers 0 and 1 are matched; layer 2 reads after both
        grads = [p.grad for n, p in attention.named_parameters() if "lora_" in n and ("q_proj" in n or "k_proj" in n)]
        reached = any(g is not None and g.abs().sum() > 0 for g in grads)
        assert reached == (index < 2), index
