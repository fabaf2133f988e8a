"""The memory (Eqs. 1-5, 10-13) against plain loop references written from the equations.

The references below follow MNAD.md section 3 symbol by symbol, in float64, with Python
loops over queries and items (slow, obvious). The package is vectorised float32; the
two must agree to float32 precision.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mnad_lite.errors import MNADError
from mnad_lite.memory import (
    Memory,
    accumulate_diagnostics,
    compactness_loss,
    distance_map,
    feature_distance,
    flatten_queries,
    init_items,
    nearest_items,
    read,
    separateness_loss,
    summarize_diagnostics,
    update,
)

ATOL = 2e-5


# --- references, one loop per sum in the equations ----------------------------------------


def dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(a):
    return math.sqrt(sum(x * x for x in a))


def nearest_two(q, items):
    """Eq. 11 and Eq. 13: indices of the nearest and second-nearest items (first on ties)."""
    scores = [dot(p, q) for p in items]
    order = sorted(range(len(items)), key=lambda m: (-scores[m], m))
    return order[0], order[1] if len(items) > 1 else None


def ref_read(queries, items):
    out = []
    for q in queries:
        e = [math.exp(dot(p, q)) for p in items]  # Eq. 1 numerator
        w = [x / sum(e) for x in e]
        out.append([sum(w[m] * items[m][c] for m in range(len(items))) for c in range(len(q))])
    return out  # Eq. 2


def ref_update(queries, items, weight_norm="all"):
    num_q, num_items = len(queries), len(items)
    # Eq. 3: v^{k,m} = exp(p_m . q^k) / sum_k' exp(p_m . q^k')
    v = [[0.0] * num_items for _ in range(num_q)]
    for m, p in enumerate(items):
        e = [math.exp(dot(p, q)) for q in queries]
        for k in range(num_q):
            v[k][m] = e[k] / sum(e)
    nearest = [nearest_two(q, items)[0] for q in queries]
    new_items = []
    for m, p in enumerate(items):
        assigned = [k for k in range(num_q) if nearest[k] == m]  # U^m
        if weight_norm == "all":
            peak = max(v[k][m] for k in range(num_q))
        else:  # Eq. 5 as printed
            peak = max((v[k][m] for k in assigned), default=1.0)
        summed = list(p)
        for k in assigned:  # Eq. 4
            for c in range(len(p)):
                summed[c] += v[k][m] / peak * queries[k][c]
        n = norm(summed)
        new_items.append([x / n for x in summed])  # f = L2 normalisation
    return new_items


def ref_compactness(queries, items):
    total = 0.0
    for q in queries:  # Eq. 10 (authors' form: mean squared error)
        p = items[nearest_two(q, items)[0]]
        total += sum((a - b) ** 2 for a, b in zip(q, p, strict=True))
    return total / (len(queries) * len(queries[0]))


def ref_separateness(queries, items, margin=1.0):
    total = 0.0
    for q in queries:  # Eq. 12 with p from Eq. 11 and n from Eq. 13
        i, j = nearest_two(q, items)
        d_pos = norm([a - b for a, b in zip(q, items[i], strict=True)])
        d_neg = norm([a - b for a, b in zip(q, items[j], strict=True)])
        total += max(0.0, d_pos - d_neg + margin)
    return total / len(queries)


def as_lists(t):
    return t.double().tolist()


def unit_rows(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, c, generator=g), dim=1)


CASES = {
    "plain": (40, 6, 8),  # N queries, M items, C dims
    "few_queries": (3, 10, 8),  # N < M: most items are selected by no query
    "one_item_dominates": (30, 4, 5),
}


@pytest.fixture(params=list(CASES))
def qp(request):
    n, m, c = CASES[request.param]
    queries, items = unit_rows(n, c, 1), unit_rows(m, c, 2)
    if request.param == "one_item_dominates":  # every query picks item 0
        items[0] = F.normalize(queries.mean(0), dim=0)
        queries = F.normalize(queries + 3 * items[0], dim=1)
    return queries, items


def test_read_matches_eqs_1_2(qp):
    queries, items = qp
    expected = torch.tensor(ref_read(as_lists(queries), as_lists(items)), dtype=torch.float64)
    torch.testing.assert_close(read(queries, items).double(), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("weight_norm", ["all", "assigned"])
def test_update_matches_eqs_3_5(qp, weight_norm):
    queries, items = qp
    expected = torch.tensor(
        ref_update(as_lists(queries), as_lists(items), weight_norm), dtype=torch.float64
    )
    got = update(queries, items, weight_norm=weight_norm)
    torch.testing.assert_close(got.double(), expected, atol=ATOL, rtol=0)
    assert torch.allclose(got.norm(dim=1), torch.ones(len(items)), atol=1e-6)


def test_unselected_items_do_not_move():
    queries, items = unit_rows(3, 8, 3), unit_rows(10, 8, 4)
    selected = set((queries @ items.t()).argmax(1).tolist())
    got = update(queries, items)
    for m in range(10):
        moved = not torch.allclose(got[m], items[m], atol=1e-7)
        assert moved == (m in selected), m


def test_weight_norm_choice_matters():
    """'all' and 'assigned' differ when an item's top query is assigned elsewhere."""
    queries, items = unit_rows(40, 6, 5), unit_rows(6, 6, 6)
    a, b = update(queries, items, "all"), update(queries, items, "assigned")
    assert not torch.allclose(a, b, atol=1e-4)


def test_ties_go_to_the_lowest_item_index():
    items = unit_rows(4, 5, 7)
    items[2] = items[1]  # items 1 and 2 identical: every query ties between them
    queries = F.normalize(items[1] + 0.05 * unit_rows(6, 5, 8), dim=1)
    got = update(queries, items)
    expected = torch.tensor(ref_update(as_lists(queries), as_lists(items)), dtype=torch.float64)
    torch.testing.assert_close(got.double(), expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(got[2], items[2])  # the tie went to item 1; item 2 unselected
    assert not torch.allclose(got[1], items[1])
    # the second-nearest of a tied query is the other twin: distance 0 difference
    torch.testing.assert_close(
        separateness_loss(queries, items).double(),
        torch.tensor(ref_separateness(as_lists(queries), as_lists(items)), dtype=torch.float64),
        atol=5e-5,
        rtol=0,
    )


def test_compactness_matches_eq_10(qp):
    queries, items = qp
    expected = ref_compactness(as_lists(queries), as_lists(items))
    assert compactness_loss(queries, items).item() == pytest.approx(expected, abs=ATOL)


def nearest_item(q, items):
    rows = as_lists(items)
    return rows[nearest_two(q, rows)[0]]


def test_compactness_paper_form_is_mean_l2_norm():
    queries, items = unit_rows(20, 8, 9), unit_rows(5, 8, 10)
    expected = sum(
        norm([a - b for a, b in zip(q, nearest_item(q, items), strict=True)])
        for q in as_lists(queries)
    ) / len(queries)
    got = compactness_loss(queries, items, form="paper").item()
    assert got == pytest.approx(expected, abs=ATOL)


def test_separateness_matches_eqs_12_13(qp):
    queries, items = qp
    expected = ref_separateness(as_lists(queries), as_lists(items))
    # torch's triplet loss adds eps=1e-6 inside the norms: hence 5e-5 here
    assert separateness_loss(queries, items).item() == pytest.approx(expected, abs=5e-5)


def test_separateness_needs_two_items():
    with pytest.raises(MNADError, match="at least 2 items"):
        separateness_loss(unit_rows(3, 4, 0), unit_rows(1, 4, 1))


def test_losses_give_gradients_to_queries_only():
    queries = unit_rows(12, 6, 11).requires_grad_()
    items = unit_rows(4, 6, 12).requires_grad_()
    (compactness_loss(queries, items) + separateness_loss(queries, items)).backward()
    assert queries.grad is not None and queries.grad.abs().sum() > 0
    assert items.grad is None


def test_bad_shapes_say_the_expected_shape():
    with pytest.raises(MNADError, match=r"\[N, C\]"):
        read(torch.zeros(2, 3, 4), torch.zeros(5, 4))
    with pytest.raises(MNADError, match="share C"):
        update(torch.zeros(2, 3), torch.zeros(5, 4))
    with pytest.raises(MNADError, match=r"\[B, 8, H, W\]"):
        Memory(4, 8)(torch.zeros(1, 6, 2, 2))
    with pytest.raises(MNADError, match="weight_norm"):
        update(unit_rows(2, 3, 0), unit_rows(2, 3, 1), weight_norm="some")  # type: ignore[arg-type]


# --- the module on feature maps ----------------------------------------------------------


def flat(x):
    """[B, C, H, W] -> [B*H*W, C], the query order the module uses."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


@pytest.mark.parametrize("batch", [1, 3])
def test_module_equals_functional_core(batch):
    torch.manual_seed(0)
    mem = Memory(num_items=5, feat_dim=8).train()
    before = mem.items.clone()
    x = torch.randn(batch, 8, 3, 4)
    out = mem(x)
    queries = flat(F.normalize(x, dim=1))
    assert out.features.shape == (batch, 16, 3, 4)
    torch.testing.assert_close(flat(out.features[:, :8]), queries)
    torch.testing.assert_close(flat(out.features[:, 8:]), read(queries, before))
    torch.testing.assert_close(out.compactness, compactness_loss(queries, before))
    torch.testing.assert_close(out.separateness, separateness_loss(queries, before))
    torch.testing.assert_close(out.distance, feature_distance(queries, before, batch))
    # the queries of the whole batch update the items together, as in the authors' code
    torch.testing.assert_close(mem.items, update(queries, before))
    assert out.read_weights.shape == (batch, 12, 5)
    torch.testing.assert_close(out.read_weights.sum(-1), torch.ones(batch, 12))


def test_distance_is_per_frame_compactness():
    torch.manual_seed(1)
    mem = Memory(num_items=4, feat_dim=6).eval()
    x = torch.randn(3, 6, 2, 2)
    out = mem(x)
    for b in range(3):
        single = compactness_loss(flat(F.normalize(x[b : b + 1], dim=1)), mem.items)
        assert out.distance[b].item() == pytest.approx(single.item(), abs=1e-6)
    assert out.distance.mean().item() == pytest.approx(out.compactness.item(), abs=1e-6)


def test_items_update_in_training_only_unless_asked():
    torch.manual_seed(2)
    mem = Memory(num_items=4, feat_dim=6)
    x = torch.randn(2, 6, 3, 3)
    start = mem.items.clone()
    mem.eval()(x)
    assert torch.equal(mem.items, start)
    mem(x, update=True)
    assert not torch.equal(mem.items, start)
    moved = mem.items.clone()
    mem.train()(x, update=False)
    assert torch.equal(mem.items, moved)


def test_items_are_a_buffer_without_gradient():
    mem = Memory(num_items=4, feat_dim=6).train()
    assert "items" in mem.state_dict() and not list(mem.parameters())
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    out = mem(x)
    (out.features.sum() + out.compactness + out.separateness).backward()
    assert x.grad is not None and not mem.items.requires_grad


def test_read_weights_are_detached_as_in_the_authors_code():
    """Gradients reach the queries through concat(q, .) and the losses, not through w."""
    torch.manual_seed(3)
    mem = Memory(num_items=4, feat_dim=6).eval()
    x = torch.randn(1, 6, 2, 2, requires_grad=True)
    mem(x).features[:, 6:].sum().backward()  # the read part only
    assert x.grad is None or torch.count_nonzero(x.grad) == 0


def test_init_items_are_unit_rows_and_seeded():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a, b = init_items(10, 512, g1), init_items(10, 512, g2)
    assert torch.equal(a, b) and a.shape == (10, 512)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(10))
    assert (a >= 0).all()  # uniform [0, 1) before normalisation, as the authors'


def test_single_item_memory_has_no_separateness():
    mem = Memory(num_items=1, feat_dim=4).train()
    out = mem(torch.randn(1, 4, 2, 2))
    assert out.separateness.item() == 0.0 and out.compactness.item() > 0


# --- Eq. 15 in both forms, Eq. 11, query flattening, diagnostics ---------------------------


def ref_distance(queries, items, form):
    """Eq. 15 over one frame's queries: (1/K) sum_k ||q^k - p_p||_2 (paper) or the mean
    squared distance per channel (code)."""
    rows = as_lists(items)
    d = [
        [a - b for a, b in zip(q, rows[nearest_two(q, rows)[0]], strict=True)]
        for q in as_lists(queries)
    ]
    if form == "paper":
        return sum(norm(x) for x in d) / len(d)
    return sum(dot(x, x) for x in d) / (len(d) * len(d[0]))


@pytest.mark.parametrize("form", ["code", "paper"])
def test_feature_distance_matches_eq_15(qp, form):
    queries, items = qp
    expected = ref_distance(queries, items, form)
    assert feature_distance(queries, items, form=form).item() == pytest.approx(expected, abs=ATOL)


@pytest.mark.parametrize("form", ["code", "paper"])
def test_memory_distance_follows_its_form(form):
    torch.manual_seed(5)
    mem = Memory(num_items=4, feat_dim=6, distance_form=form).eval()
    x = torch.randn(2, 6, 3, 3)
    out = mem(x)
    for b in range(2):
        q = flatten_queries(F.normalize(x[b : b + 1], dim=1))
        assert out.distance[b].item() == pytest.approx(ref_distance(q, mem.items, form), abs=ATOL)


def ref_distance_map(query_map, items, form):
    """Eq. 15's term of every query, cell by cell: [B, C, h, w] -> nested lists [B][h][w]."""
    rows = as_lists(items)
    b, c, h, w = query_map.shape
    out = []
    for f in range(b):
        frame = []
        for i in range(h):
            line = []
            for j in range(w):
                q = query_map[f, :, i, j].double().tolist()
                p = rows[nearest_two(q, rows)[0]]  # Eq. 11
                gap = [x - y for x, y in zip(q, p, strict=True)]
                line.append(norm(gap) if form == "paper" else dot(gap, gap) / c)
            frame.append(line)
        out.append(frame)
    return out


@pytest.mark.parametrize("form", ["code", "paper"])
def test_distance_map_matches_eq_15_query_by_query(form):
    g = torch.Generator().manual_seed(7)
    qmap = F.normalize(torch.randn(2, 5, 3, 4, generator=g), dim=1)  # [B, C, h, w]
    items = unit_rows(4, 5, 8)
    dmap = distance_map(qmap, items, form=form)
    assert dmap.shape == (2, 3, 4)
    expected = torch.tensor(ref_distance_map(qmap, items, form), dtype=torch.float64)
    assert torch.allclose(dmap.double(), expected, atol=ATOL)
    # its mean over the K = h*w queries is each frame's D (Eq. 15), as scoring computes it
    per_frame = feature_distance(flatten_queries(qmap), items, batch_size=2, form=form)
    assert torch.allclose(dmap.mean((1, 2)), per_frame, atol=1e-6)
    mem = Memory(num_items=4, feat_dim=5, distance_form=form).eval()
    mem.items.copy_(items)
    assert torch.allclose(mem(qmap, update=False).distance, dmap.mean((1, 2)), atol=1e-6)


def test_nearest_items_and_flatten_queries():
    queries, items = unit_rows(25, 5, 3), unit_rows(4, 5, 4)
    rows = as_lists(items)
    expected = [nearest_two(q, rows)[0] for q in as_lists(queries)]
    assert nearest_items(queries, items).tolist() == expected
    qmap = torch.arange(2 * 3 * 2 * 2.0).reshape(2, 3, 2, 2)  # [B, C, h, w]
    flat_q = flatten_queries(qmap)
    assert flat_q.shape == (8, 3)
    assert flat_q[5].tolist() == qmap[1, :, 0, 1].tolist()  # frame 1, row 0, column 1
    with pytest.raises(MNADError, match=r"\[B, C, h, w\]"):
        flatten_queries(torch.zeros(3, 4))


def test_diagnostics_match_their_definitions():
    torch.manual_seed(6)
    mem = Memory(num_items=5, feat_dim=8).eval()
    x = torch.randn(2, 8, 4, 4)
    out = mem(x)
    q = flatten_queries(F.normalize(x, dim=1))
    qs, rows = as_lists(q), as_lists(mem.items)
    near = [nearest_two(v, rows) for v in qs]
    counts = [sum(1 for p, _ in near if p == m) for m in range(5)]
    share = [c / len(qs) for c in counts]
    weights = [
        [math.exp(dot(p, v)) / sum(math.exp(dot(r, v)) for r in rows) for p in rows] for v in qs
    ]
    hinge = [
        norm([a - b for a, b in zip(v, rows[p], strict=True)])
        - norm([a - b for a, b in zip(v, rows[n], strict=True)])
        + 1.0
        for v, (p, n) in zip(qs, near, strict=True)
    ]
    got = summarize_diagnostics(accumulate_diagnostics(None, out.diagnostics))
    assert got["items_used"] == sum(s >= 0.01 for s in share)
    entropy = -sum(s * math.log(s) for s in share if s)
    assert got["usage_entropy"] == pytest.approx(entropy, abs=1e-6)
    cos = [dot(v, rows[p]) for v, (p, _) in zip(qs, near, strict=True)]
    assert got["cos_nearest"] == pytest.approx(sum(cos) / len(qs), abs=ATOL)
    assert got["max_read_weight"] == pytest.approx(sum(map(max, weights)) / len(qs), abs=ATOL)
    assert got["hinge_active"] == pytest.approx(sum(h > 0 for h in hinge) / len(qs), abs=1e-9)
    # two passes accumulate: the same pass twice gives the same means and double counts
    twice = accumulate_diagnostics(accumulate_diagnostics(None, out.diagnostics), out.diagnostics)
    assert summarize_diagnostics(twice) == pytest.approx(got)
    assert float(twice["queries"]) == 2 * len(qs)


def test_collapsed_queries_show_in_the_diagnostics():
    """Every query on item 0: one item used, entropy 0, cos 1."""
    mem = Memory(num_items=4, feat_dim=6).eval()
    x = mem.items[0].reshape(1, 6, 1, 1).repeat(1, 1, 3, 3) * 2.0
    got = summarize_diagnostics(accumulate_diagnostics(None, mem(x).diagnostics))
    assert got["items_used"] == 1 and got["usage_entropy"] == 0.0
    assert got["cos_nearest"] == pytest.approx(1.0, abs=1e-6)


def test_update_weights_and_the_hinge_per_query_follow_eqs_3_and_11_to_13():
    """Plain references written from the equations: v = softmax over queries of p·q (Eq. 3);
    the hinge ||q - p_p|| - ||q - p_n|| + α with p nearest and n second nearest."""
    from mnad_lite.memory import separateness_hinge, update_weights

    g = torch.Generator().manual_seed(5)
    q = F.normalize(torch.randn(7, 4, generator=g), dim=1)
    p = F.normalize(torch.randn(3, 4, generator=g), dim=1)
    s = q @ p.t()
    torch.testing.assert_close(update_weights(q, p), torch.softmax(s, dim=0))
    order = s.argsort(dim=1, descending=True)
    d_pos = (q - p[order[:, 0]]).norm(dim=1)
    d_neg = (q - p[order[:, 1]]).norm(dim=1)
    torch.testing.assert_close(
        separateness_hinge(q, p, 0.5), d_pos - d_neg + 0.5, atol=1e-5, rtol=0
    )
    assert torch.allclose(separateness_hinge(q, p).clamp_min(0).mean(), separateness_loss(q, p))


def test_nearest_second_and_per_query_distance_follow_eqs_11_13_and_the_term_of_10_15(qp):
    """Each query's nearest item p (Eq. 11), second-nearest n (Eq. 13) and distance term,
    against loops over the items; the read of Eq. 2 from given weights."""
    from mnad_lite.memory import query_distance, read_items, read_weights, second_nearest_items

    queries, items = qp
    q, p = as_lists(queries), as_lists(items)
    nearest, second, code, paper = [], [], [], []
    for qk in q:
        order = sorted(range(len(p)), key=lambda m: (-dot(qk, p[m]), m))  # ties: lowest index
        nearest.append(order[0])
        second.append(order[1])
        diff = [a - b for a, b in zip(qk, p[order[0]], strict=True)]
        code.append(sum(d * d for d in diff) / len(diff))
        paper.append(math.sqrt(sum(d * d for d in diff)))
    assert nearest_items(queries, items).tolist() == nearest
    assert second_nearest_items(queries, items).tolist() == second
    torch.testing.assert_close(
        query_distance(queries, items).double(),
        torch.tensor(code, dtype=torch.float64),
        atol=ATOL,
        rtol=0,
    )
    torch.testing.assert_close(
        query_distance(queries, items, "paper").double(),
        torch.tensor(paper, dtype=torch.float64),
        atol=ATOL,
        rtol=0,
    )
    torch.testing.assert_close(
        read_items(read_weights(queries, items), items), read(queries, items)
    )
