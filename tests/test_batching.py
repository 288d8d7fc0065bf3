import numpy as np
import torch

from tuneoff.training.batching import Encoded, collate, eval_batches, train_batches


def lengths(n=500, seed=0):
    return np.random.default_rng(seed).integers(3, 60, size=n)


def padded_tokens(batches, lens):
    return sum(len(b) * lens[b].max() for b in batches)


def test_train_batches_cover_every_sentence_once():
    lens = lengths()
    batches = train_batches(lens, 32, 20, seed=1)
    flat = np.concatenate(batches)
    assert sorted(flat) == list(range(len(lens)))
    assert sum(len(b) < 32 for b in batches) <= 1  # one short batch at most per chunk


def test_bucketing_cuts_padding_but_keeps_order_random():
    lens = lengths()
    random_order = train_batches(lens, 32, 1, seed=1)
    bucketed = train_batches(lens, 32, 20, seed=1)
    assert padded_tokens(bucketed, lens) < 0.75 * padded_tokens(random_order, lens)
    # batches are not simply in length order
    maxima = [lens[b].max() for b in bucketed]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)


def test_batch_order_depends_on_seed_only():
    lens = lengths()
    a, b, c = (train_batches(lens, 32, 20, seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_eval_batches_longest_first_and_complete():
    lens = lengths(100)
    batches = eval_batches(lens, 16)
    flat = np.concatenate(batches)
    assert sorted(flat) == list(range(100))
    assert list(lens[flat]) == sorted(lens, reverse=True)


def test_collate_pads_to_the_longest_in_batch():
    data = Encoded(ids=((101, 5, 102), (101, 7, 8, 9, 102), (101, 102)), labels=(0, 3, 4), pad_id=0)
    batch = collate(data, np.array([0, 2]))
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [0, 4]
    assert collate(data, np.array([1]))["input_ids"].shape == torch.Size([1, 5])


def test_static_shapes_pad_batches_to_a_few_widths_and_change_no_result():
    import torch

    from tuneoff.training.batching import Encoded, collate, padded_width

    assert [padded_width(n, 16, 40) for n in (1, 16, 17, 33, 40)] == [16, 16, 32, 40, 40]
    assert padded_width(23, 0, 128) == 23
    ids = tuple(tuple(range(1, n + 1)) for n in (3, 9, 18, 5))
    data = Encoded(ids, (0, 1, 2, 3), 0, multiple=16, max_len=32)
    batch = collate(data, np.array([0, 1]))
    assert batch["input_ids"].shape == (2, 16) and batch["attention_mask"].sum().item() == 12
    assert collate(data, np.array([2, 3]))["input_ids"].shape == (2, 32)
    from tuneoff.models.sources import RandomDistilBert

    torch.manual_seed(0)
    model = RandomDistilBert(size="tiny").build(5).model.eval()
    dynamic = collate(Encoded(ids, (0, 1, 2, 3), 0), np.arange(4))
    with torch.no_grad():
        a = model(**dynamic).logits
        b = model(**collate(data, np.arange(4))).logits
    assert torch.allclose(a, b, atol=1e-5)  # padding is masked: the same predictions
