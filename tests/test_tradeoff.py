"""Blend, merged retrieval lists, Pareto frontiers and the frontier gap on known answers."""

import numpy as np
import pandas as pd
import pytest

from mtmh.blend import blend
from mtmh.config import Params
from mtmh.prepare import prepare_frames
from mtmh.retrieval import ServingConfig, engagement_shares, lists_for_catalogue
from mtmh.tradeoff import RECALL, RELEVANCE, frontier_gap, pareto


def pts(*xy):
    return [{RECALL: x, RELEVANCE: y, "k": i} for i, (x, y) in enumerate(xy)]


def test_pareto_keeps_points_no_other_point_beats():
    front = pareto(pts((0.3, 0.1), (0.2, 0.2), (0.25, 0.05), (0.1, 0.5), (0.1, 0.4)))
    assert [(p[RECALL], p[RELEVANCE]) for p in front] == [(0.3, 0.1), (0.2, 0.2), (0.1, 0.5)]


def test_frontier_gap_is_the_mean_vertical_distance_on_the_shared_range():
    model = pts((0.1, 0.5), (0.3, 0.3))
    reference = pts((0.1, 0.4), (0.3, 0.2))
    assert frontier_gap(model, reference) == pytest.approx(0.1)
    assert frontier_gap(reference, model) == pytest.approx(-0.1)
    assert np.isnan(frontier_gap(pts((0.1, 0.5), (0.2, 0.3)), pts((0.3, 0.1), (0.4, 0.0))))


def test_engagement_shares():
    assert engagement_shares(0.8, 2) == pytest.approx([0.8, 0.2])
    assert engagement_shares(0.4, 3) == pytest.approx([0.4, 0.3, 0.3])
    assert engagement_shares(0.3, 1) == [1.0]


def tiny_prep():
    # Items 0-1 co-engaged often, 2-3 once; item 4 never co-engaged with anything.
    rows = [("u1", 0, 1), ("u1", 1, 2), ("u2", 0, 3), ("u2", 1, 4), ("u3", 2, 5),
            ("u3", 3, 6), ("u4", 4, 7)] + [("late", 0, 100 + i) for i in range(10)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": range(5), "title": list("ABCDE")})
    return prepare_frames(inter, items, Params())


def test_blend_moves_from_itemcf_to_content_with_beta():
    prep = tiny_prep()
    content = np.eye(5, dtype=np.float32)
    content[1] = content[4] = np.array([0, 0.6, 0, 0, 0.8], np.float32)  # 1 ~ 4 by text
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    low = blend(prep, content, 3, beta=0.0)
    assert low.items[0, 0] == 1  # item-CF's best for 0
    assert low.items[2, 0] == 3
    high = blend(prep, content, 3, beta=10.0)
    assert high.items[1, 0] == 4  # content's best for 1
    assert not (low.items == np.arange(5)[:, None]).any()


def test_merged_lists_take_quota_from_each_head_and_score_by_the_finding_head():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((2, 40, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=2, keepdims=True)
    lists, _ = lists_for_catalogue(emb, ["a", "b"], [0.5, 0.5], ServingConfig(k=10, merge="quota"))
    merged = lists.merged
    assert merged.items.shape == (40, 10)
    assert not (merged.items == np.arange(40)[:, None]).any()
    for row in range(40):
        assert len(set(merged.items[row])) == 10
        for item, head, score in zip(merged.items[row], merged.source[row],
                                     merged.scores[row], strict=True):
            assert score == pytest.approx(float(emb[head, row] @ emb[head, item]), abs=1e-5)
    counts = np.bincount(merged.source.ravel(), minlength=2)
    assert counts[0] == counts[1] == 200  # 5 of 10 slots each
    assert (merged.items[:, 0] == lists.heads.items[0, :, 0]).all()  # head a leads


def test_alpha_sweep_is_drawn_only_for_the_settings_and_data_it_came_from(tmp_path, caplog):
    from pathlib import Path

    from mtmh.config import load_params
    from mtmh.layout import Layout
    from mtmh.steps.tradeoff import alpha_sweep_fingerprint
    from mtmh.tradeoff import read_alpha_sweep, write_alpha_sweep

    layout = Layout(tmp_path)
    layout.prepared.mkdir(parents=True)
    (layout.prepared / "summary.json").write_text('{"n_items": 10}')
    layout.embeddings_meta.write_text('{"encoder": "e"}')
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    fingerprint = alpha_sweep_fingerprint(params, layout=layout)
    points = [{"alpha": 0.1, RECALL: 0.3, RELEVANCE: 0.2}]
    assert read_alpha_sweep(fingerprint, layout=layout) == []  # no sweep yet
    write_alpha_sweep(points, fingerprint, layout=layout)
    assert read_alpha_sweep(fingerprint, layout=layout) == points

    # The heads' alphas and shares are not what the sweep depends on ...
    for head in params.extra["model"]["model"]["heads"]:
        head.update(alpha=head["alpha"] * 3, share=0.5)
    assert alpha_sweep_fingerprint(params, layout=layout) == fingerprint
    # ... a training setting and the data are.
    params.extra["model"]["train"]["tau"] = 0.2
    other = alpha_sweep_fingerprint(params, layout=layout)
    assert other != fingerprint
    caplog.set_level("WARNING")
    assert read_alpha_sweep(other, layout=layout) == []
    assert "other model settings or data" in caplog.text
    params.extra["model"]["train"]["tau"] = 0.05
    assert alpha_sweep_fingerprint(params, layout=layout) == fingerprint
    (layout.prepared / "summary.json").write_text('{"n_items": 11}')
    assert alpha_sweep_fingerprint(params, layout=layout) != fingerprint
    # Same counts, other item texts: the content embeddings differ, so do the points.
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["A (1999)", "B (2000)"],
                          "genres": ["x", "y"], "year": [1999, 2000]})
    items.to_parquet(layout.prepared / "items.parquet")
    with_items = alpha_sweep_fingerprint(params, layout=layout)
    items.assign(title=["A (1999)", "C (2000)"]).to_parquet(layout.prepared / "items.parquet")
    assert alpha_sweep_fingerprint(params, layout=layout) != with_items
    items.to_parquet(layout.prepared / "items.parquet", compression="gzip")  # other bytes
    assert alpha_sweep_fingerprint(params, layout=layout) == with_items
    # A catalogue without some of the digested columns (no year) still has a fingerprint.
    items.drop(columns="year").to_parquet(layout.prepared / "items.parquet")
    assert alpha_sweep_fingerprint(params, layout=layout) != with_items

    layout.alpha_sweep.write_text("[]")  # not what `mtmh sweep-alpha` writes
    with pytest.raises(ValueError, match="alpha.json: not an alpha sweep file"):
        read_alpha_sweep(fingerprint, layout=layout)


def test_labels_of_close_points_do_not_overlap():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtmh.tradeoff import place_labels

    fig, ax = plt.subplots(figsize=(9, 6.5))
    # Four methods within a label's height of each other, as idonly, swing, itemcf and
    # twotower lie on ML-1M, plus one far away.
    points = [("idonly", 0.275, 0.198), ("swing", 0.276, 0.184), ("itemcf", 0.265, 0.191),
              ("twotower", 0.284, 0.193), ("content", 0.084, 0.810)]
    ax.scatter([p[1] for p in points], [p[2] for p in points])
    ax.set_xlim(0.05, 0.32)  # write_figure leaves room on the right likewise
    ax.set_ylim(0.0, 0.85)
    boxes = place_labels(ax, points)
    inside = ax.get_window_extent()
    assert len(boxes) == len(points)
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1:]), points[i][0]
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
    plt.close(fig)
