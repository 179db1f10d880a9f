"""The pipeline's steps, each reading and writing the paths of one :class:`Layout`.

DVC stages (``stages/``) and Prefect flows (``flows/``) call these same functions, so
each step is written once. The stages use :data:`mtmh.layout.DEFAULT` (the paths of
``dvc.yaml``, relative to the repository root); the retraining flow passes a layout of its
own, so its outputs stay apart from the pipeline's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from mtmh import report
from mtmh.config import Params
from mtmh.data import load_items
from mtmh.embed import embed_items, load_embeddings, save_embeddings
from mtmh.layout import DEFAULT, Layout
from mtmh.metrics import EvalData, evaluate_lists, genre_matrix
from mtmh.prepare import Prepared, load_prepared, prepare, save_prepared

logger = logging.getLogger(__name__)

MERGED = "merged"


def neighbors_path(method: str, root: Path = DEFAULT.neighbors) -> Path:
    """Where a method's top-K lists live.

    A baseline ``name``: ``<root>/name.npz``. A trained model ``name`` (a folder):
    ``<root>/name/merged.npz`` for its served list, ``<root>/name/HEAD.npz`` for
    ``name:HEAD``, one head on its own.
    """
    model, _, head = method.partition(":")
    if head or (root / model).is_dir():
        return root / model / f"{head or MERGED}.npz"
    return root / f"{model}.npz"


def step_validate(params: Params, *, layout: Layout = DEFAULT):  # -> ValidationReport
    """Run the data-quality gates on the configured files; raise when they fail.

    The report goes to ``layout.validation_dir(params)``. On success also writes
    ``layout.validated`` (``artifacts/validated.json``): which files passed how many
    checks. Later stages depend on it rather than on the report, whose run ids and
    times change on every run, so re-validating the same data re-runs nothing after it.
    """
    import json

    from mtmh.data import atomic_path
    from mtmh.validate import check

    report = check(params, report_dir=layout.validation_dir(params))
    passed = {"interactions": str(params.data.interactions), "items": str(params.data.items),
              "checks_passed": len(report.checks), "notes": report.notes}
    with atomic_path(layout.validated) as tmp:
        tmp.write_text(json.dumps(passed, indent=2) + "\n")
    return report


def step_prepare(params: Params, *, layout: Layout = DEFAULT) -> Prepared:
    """Catalogue, protocol split and pairs, written to ``layout.prepared``."""
    prep = prepare(params)
    save_prepared(prep, layout.prepared)
    return prep


def step_embed(params: Params, *, layout: Layout = DEFAULT) -> np.ndarray:
    """Content embeddings of every catalogue item, in items-file order."""
    items = load_items(params.data)
    start = time.perf_counter()
    emb = embed_items(items, params.embed)
    logger.info("embedded %d items with %s in %.1f s", len(items), params.embed.encoder,
                time.perf_counter() - start)
    save_embeddings(emb, params.embed, layout.embeddings)
    return emb


def step_baseline(params: Params, method: str, *, layout: Layout = DEFAULT) -> Path:
    """Top-K lists of one classical baseline."""
    from mtmh.baselines import run_baseline

    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    start = time.perf_counter()
    neighbors = run_baseline(method, prep, content, params)
    logger.info("%s: lists for %d items in %.1f s", method, prep.n_items,
                time.perf_counter() - start)
    path = neighbors_path(method, layout.neighbors)
    neighbors.save(path)
    return path


def eval_data(prep: Prepared, content: np.ndarray) -> EvalData:
    return EvalData(content=content, genres=genre_matrix(prep.items["genre_list"].tolist()),
                    train_counts=prep.train_counts())


def load_test_split(*, layout: Layout = DEFAULT
                    ) -> tuple[Prepared, np.ndarray, EvalData, np.ndarray, np.ndarray]:
    """Prepared data, content embeddings, the harness's data and the test pairs (a, b)."""
    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    a = prep.test_pairs["a"].to_numpy()
    b = prep.test_pairs["b"].to_numpy()
    return prep, content, eval_data(prep, content), a, b


def served_methods(params: Params, *, layout: Layout = DEFAULT) -> list[str]:
    """Every method the evaluate stage scores: baselines, the blend, each model and head."""
    import json

    methods = list(params.baselines.methods)
    if "blend" in params.extra:
        methods.append("blend")
    for name in params.extra.get("models") or []:
        methods.append(name)
        meta = layout.index / name / "index.json"
        heads = json.loads(meta.read_text())["heads"] if meta.exists() else []
        if len(heads) > 1:
            methods += [f"{name}:{h}" for h in heads]
    return methods


def ratios(metrics: dict[str, dict[str, float]], params: Params,
           keys: tuple[str, ...] = ("recall@50", "relevance_rate@50")) -> dict:
    """``mtmh`` over the two-tower and over the best baseline (by Recall@50), per metric."""
    out: dict[str, dict[str, float]] = {}
    if "mtmh" not in metrics:
        return out
    baselines = [m for m in params.baselines.methods if m in metrics]
    references = ["twotower"] if "twotower" in metrics else []
    if baselines:
        references.append(max(baselines, key=lambda m: metrics[m]["recall@50"]))
    for ref in references:
        out[f"mtmh_vs_{ref}"] = {k: metrics["mtmh"][k] / metrics[ref][k] for k in keys
                                 if metrics[ref].get(k)}
    return out


def step_evaluate(params: Params, methods: list[str] | None = None, *,
                  layout: Layout = DEFAULT) -> dict[str, dict[str, float]]:
    """Score each method's lists on the test pairs; write ``layout.metrics``.

    ``methods`` defaults to :func:`served_methods`. The file also holds ``ratios``.
    """
    from mtmh.neighbors import Neighbors

    methods = methods or served_methods(params, layout=layout)
    prep, _, data, a, b = load_test_split(layout=layout)
    metrics: dict = {}
    for method in methods:
        lists = Neighbors.load(neighbors_path(method, layout.neighbors))
        metrics[method] = evaluate_lists(lists.items, a, b, data, ks=params.evaluate.ks,
                                         relevance_threshold=params.evaluate.relevance_threshold,
                                         genre_threshold=params.evaluate.genre_threshold)
        logger.info("%s: recall@50 %.4f, relevance_rate@50 %.4f", method,
                    metrics[method].get("recall@50", float("nan")),
                    metrics[method].get("relevance_rate@50", float("nan")))
    found = ratios(metrics, params)
    if found:
        metrics[report.RATIOS] = found
    report.write_metrics(metrics, layout.metrics)
    logger.info("metrics of %d methods on %d test pairs:\n%s", len(methods), len(a),
                report.format_table(metrics))
    return metrics


def _child_runs(params: Params, metrics: dict, sweeps: dict) -> list:
    """Nested MLflow runs: every method (heads included) and every sweep point."""
    from mtmh.tracking import ChildRun

    model = params.extra.get("model") or {}
    head_cfg = {h.get("name"): h for h in (model.get("model") or {}).get("heads") or []}
    children = []
    for method, row in metrics.items():
        if method == report.RATIOS:
            continue
        _, _, head = method.partition(":")
        kind = "head" if head else "method"
        extra = {k: v for k, v in head_cfg.get(head, {}).items() if k in ("alpha", "share")}
        children.append(ChildRun(method, {"method": method, **extra}, row, {"kind": kind}))
    for sweep, points in (sweeps.get("points") or {}).items():
        for p in points:
            knobs = {k: v for k, v in p.items() if "@" not in k}
            label = ",".join(f"{k}={v:g}" for k, v in knobs.items())
            metrics_only = {k: v for k, v in p.items() if "@" in k}
            children.append(ChildRun(f"{sweep}:{label}", {"sweep": sweep, **knobs},
                                     metrics_only, {"kind": "sweep"}))
    return children


def run_description(metrics: dict, sweeps: dict) -> str:
    """Markdown for the MLflow run page: the heads' and methods' trade-off at a glance."""
    lines = ["**Recall against relevance on the test split** (figure: `tradeoff.png`)", "",
             "| method | Recall@50 | relevance rate@50 | fresh-target Recall@50 |",
             "|---|---:|---:|---:|"]
    # The model and its heads first: the collapsed description shows the first rows.
    order = sorted((m for m in metrics if m != report.RATIOS),
                   key=lambda m: (not m.startswith("mtmh"), list(metrics).index(m)))
    for method in order:
        row = metrics[method]
        if "recall@50" in row:
            lines.append(f"| {method} | {row['recall@50']:.4f} | "
                         f"{row['relevance_rate@50']:.4f} | {row['fresh_recall@50']:.4f} |")
    for name, row in (metrics.get(report.RATIOS) or {}).items():
        lines.append("")
        lines.append(f"{name}: " + ", ".join(f"{k} x{v:.3f}" for k, v in row.items()))
    gap = sweeps.get("frontier_gap_mtmh_vs_blend")
    if gap is not None:
        lines += ["", f"MTMH share frontier minus blend frontier (mean relevance at equal "
                      f"recall): {gap:+.4f}"]
    return "\n".join(lines)


def step_track(params: Params, *, layout: Layout = DEFAULT) -> str:
    """Log the run to MLflow from the files DVC also reads; return the MLflow run id.

    One parent run, nested runs per method, head and sweep point, and the trained MTMH
    model registered (alias ``candidate``) when it exists. Every file logged comes from
    ``layout``; the run id is written to ``layout.mlflow_run``.
    """
    import json

    from mtmh.data import atomic_path
    from mtmh.tracking import ModelToRegister, log_pipeline_run

    metrics = report.read_metrics(layout.metrics)
    sweeps = json.loads(layout.sweeps.read_text()) if layout.sweeps.exists() else {}
    table = layout.metrics_table
    with atomic_path(table) as tmp:
        tmp.write_text("# Test-split metrics\n\n```text\n" + report.format_table(metrics)
                       + "\n```\n")
    artifacts = [layout.metrics, table, layout.tradeoff_png, layout.tradeoff_csv,
                 layout.sweeps, layout.prepared / "summary.json",
                 *sorted(layout.models.glob("*.json"))]
    model = None
    checkpoint = layout.checkpoint("mtmh")
    if checkpoint.exists():
        import pandas as pd

        registry = params.extra.get("registry") or {}
        items = layout.prepared / "items.parquet"
        first = str(pd.read_parquet(items)["item_id"].iloc[0])
        model = ModelToRegister(
            name=registry.get("name", "mtmh"), alias="candidate",
            artifacts={"items": str(items), "lists": str(layout.neighbors / "mtmh"),
                       "checkpoint": str(checkpoint), "index": str(layout.index / "mtmh")},
            input_example=pd.DataFrame({"item": [first], "k": [10]}))
    run_id = log_pipeline_run(params.tracking, params=params.to_dict(), metrics=metrics,
                              artifacts=artifacts, run_name="pipeline",
                              children=_child_runs(params, metrics, sweeps), model=model,
                              description=run_description(metrics, sweeps))
    with atomic_path(layout.mlflow_run) as tmp:
        tmp.write_text(json.dumps({"run_id": run_id, "tracking_uri": params.tracking.uri},
                                  indent=2) + "\n")
    return run_id


def step_tradeoff(params: Params, *, layout: Layout = DEFAULT) -> dict:
    """Sweep the serving shares and the blend's beta; write the sweeps and the figure."""
    from mtmh import tradeoff
    from mtmh.baselines import itemcf_scores
    from mtmh.blend import blend
    from mtmh.neighbors import Neighbors
    from mtmh.retrieval import serving_config

    prep, content, data, a, b = load_test_split(layout=layout)
    serving = serving_config(params.extra.get("serving"))
    sweeps: dict[str, list[dict]] = {}

    meta = layout.index / "mtmh" / "index.json"
    if meta.exists():
        import json

        heads = json.loads(meta.read_text())["heads"]
        if len(heads) > 1:
            head_items = np.stack([Neighbors.load(neighbors_path(f"mtmh:{h}",
                                                                 layout.neighbors)).items
                                   for h in heads])  # (H, n_items, k)
            sweeps["mtmh_shares"] = tradeoff.share_sweep(
                head_items, serving.share_sweep, a, b, data, k=serving.k,
                merge=serving.merge, rrf_k=serving.rrf_k)

    betas = (params.extra.get("blend") or {}).get("betas") or []
    if betas:
        cf = itemcf_scores(prep, params.baselines.itemcf.shrink)
        sweeps["blend_beta"] = []
        for beta in betas:
            lists = blend(prep, content, params.baselines.topk, float(beta), cf=cf)
            sweeps["blend_beta"].append(tradeoff.point(lists.items, a, b, data,
                                                       beta=float(beta)))
    alpha = tradeoff.read_alpha_sweep(layout=layout)
    if alpha:
        sweeps["alpha"] = alpha

    summary: dict = {"points": sweeps}
    if sweeps.get("mtmh_shares") and sweeps.get("blend_beta"):
        gap = tradeoff.frontier_gap(sweeps["mtmh_shares"], sweeps["blend_beta"])
        summary["frontier_gap_mtmh_vs_blend"] = gap
        logger.info("MTMH frontier minus blend frontier, mean relevance at equal recall: "
                    "%+.4f", gap)
    tradeoff.write_sweeps(summary, layout=layout)
    tradeoff.write_figure(report.read_metrics(layout.metrics), sweeps, layout=layout)
    return summary


# --- the MTMH model and its ablations ----------------------------------------------------

def model_config(params: Params, name: str):  # -> MTMHConfig
    """The ``model:`` section of the params, as trained for ``name``.

    ``mtmh`` is the section as written; ``twotower``, ``singlehead`` and ``idonly`` change
    only the heads or inputs (see :func:`mtmh.train.ablation`).
    """
    from mtmh.train import ablation, config_from_dict

    return ablation(config_from_dict(params.extra.get("model")), name)


def step_train(params: Params, name: str, *, layout: Layout = DEFAULT) -> Path:
    """Train model ``name`` and write its checkpoint and training summary."""
    import json

    from mtmh.checkpoint import save_checkpoint
    from mtmh.data import atomic_path
    from mtmh.train import train

    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    cfg = model_config(params, name)
    result = train(prep, content, cfg)
    summary = {"model": name, "best_epoch": result.best_epoch,
               "best_valid_recall@50": result.best_valid_recall,
               "seconds": round(result.seconds, 1),
               "pairs_per_second": round(result.pairs_per_second),
               "heads": [h.name for h in cfg.model.heads], "history": result.history}
    path = layout.checkpoint(name)
    save_checkpoint(path, result.model, cfg, meta={k: v for k, v in summary.items()
                                                   if k != "history"})
    with atomic_path(layout.models / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("%s: best epoch %d, valid recall@50 %.4f, %.0f s, %.0f pairs/s", name,
                result.best_epoch, result.best_valid_recall, result.seconds,
                result.pairs_per_second)
    return path


def step_index(params: Params, name: str, *, layout: Layout = DEFAULT) -> dict:
    """Index each head of model ``name``; write its per-head and merged lists."""
    import json

    from mtmh.checkpoint import load_checkpoint
    from mtmh.data import atomic_path
    from mtmh.retrieval import lists_for_catalogue, save_indexes, serving_config

    cfg = serving_config(params.extra.get("serving"))
    model = load_checkpoint(layout.checkpoint(name))
    embeddings, queries = model.catalogue_vectors()  # (H, n_items, d) each
    heads = [h.name for h in model.cfg.heads]
    lists, indexes = lists_for_catalogue(embeddings, heads, [h.share for h in model.cfg.heads],
                                         cfg, queries)
    meta = {"shares": lists.shares.tolist(), "kind": cfg.index.kind, "merge": cfg.merge,
            "rrf_k": cfg.rrf_k,
            "recall_against_exact@50": lists.index_recall}
    save_indexes(indexes, heads, layout.index / name, meta)
    folder = layout.neighbors / name
    lists.merged.save(folder / f"{MERGED}.npz")
    with atomic_path(folder / "heads.json") as tmp:
        tmp.write_text(json.dumps(heads) + "\n")
    if len(heads) > 1:
        for h, head in enumerate(heads):
            lists.heads.head(h).save(folder / f"{head}.npz")
    logger.info("%s: %d heads indexed (%s), shares %s", name, len(heads), cfg.index.kind,
                np.round(lists.shares, 3).tolist())
    return meta


def step_blend(params: Params, *, layout: Layout = DEFAULT) -> Path:
    """Lists of the item-CF + beta * content blend at ``blend.beta``."""
    from mtmh.blend import blend

    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    beta = float((params.extra.get("blend") or {}).get("beta", 0.3))
    lists = blend(prep, content, params.baselines.topk, beta, params.baselines.itemcf.shrink)
    path = neighbors_path("blend", layout.neighbors)
    lists.save(path)
    return path


def step_sweep_alpha(params: Params, alphas: list[float], *,
                     layout: Layout = DEFAULT) -> list[dict]:
    """Train one single-head model per alpha; score each on the test split.

    Writes ``layout.alpha_sweep``, which the trade-off figure picks up, then redraws the
    figure. One training per point: minutes each.
    """
    from mtmh import tradeoff
    from mtmh.merge import head_neighbors
    from mtmh.train import ablation, config_from_dict, train

    prep, content, data, a, b = load_test_split(layout=layout)
    base = config_from_dict(params.extra.get("model"))
    points = []
    for alpha in alphas:
        cfg = ablation(base, "singlehead", alpha=float(alpha))
        result = train(prep, content, cfg)
        emb, queries = result.model.catalogue_vectors()
        lists = head_neighbors(emb, 50, queries=queries)[0]  # (n_items, 50)
        points.append(tradeoff.point(lists, a, b, data, alpha=float(alpha)))
        logger.info("alpha %g: recall@50 %.4f relevance@50 %.4f (%.0f s)", alpha,
                    points[-1][tradeoff.RECALL], points[-1][tradeoff.RELEVANCE],
                    result.seconds)
    tradeoff.write_alpha_sweep(points, layout=layout)
    step_tradeoff(params, layout=layout)
    return points
