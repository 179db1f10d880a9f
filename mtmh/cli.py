"""The ``mtmh`` command line: validate files, look up similar items, export lists.

Errors the user can act on (a missing file, an unknown item, bad arguments, failed
data gates) print one line, or the gate report, and exit non-zero without a traceback;
``--debug`` shows the traceback of anything else.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

EXIT_FAIL = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A request the command line cannot serve; the message says why."""


def setup_logging(verbosity: int = 0) -> None:
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", force=True)
    for noisy in ("great_expectations", "alembic", "urllib3", "httpx", "filelock",
                  "sentence_transformers", "transformers", "matplotlib", "faiss"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def run_guarded(fn: Callable[[], int | None], *, debug: bool = False) -> int:
    """Run ``fn``; turn the errors a user can act on into one line and an exit code."""
    from mtmh.config import ConfigError
    from mtmh.data import DataError

    try:
        return fn() or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the boundary where errors become exit codes
        from mtmh.validate import ValidationFailed

        if debug:
            raise
        if isinstance(exc, ValidationFailed):
            print(str(exc), file=sys.stderr)
            return EXIT_FAIL
        known = (DataError, ConfigError, UsageError, FileNotFoundError, KeyError, ValueError)
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, known):
            print(f"error: {message}", file=sys.stderr)
        else:
            print(f"error: {type(exc).__name__}: {message} (run with --debug for the traceback)",
                  file=sys.stderr)
        return EXIT_FAIL


# --- commands -------------------------------------------------------------------------

def cmd_materialise(args: argparse.Namespace) -> int:
    from mtmh.data import materialise

    paths = materialise(args.dataset, args.out)
    print(f"wrote {paths[0]} and {paths[1]}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from mtmh.validate import check

    params = _params(args)
    report = check(params, args.interactions, args.items, report_dir=args.report_dir)
    print(report.to_text())
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from mtmh.serving import Catalog

    catalog = Catalog.open(_layout(args))
    method = args.method or catalog.default_method()
    if (args.item is None) == (args.text is None):
        raise UsageError("give either ITEM (an id or title fragment) or --text, not both")
    if args.text is not None:
        rows = catalog.similar_text(args.text, method, args.k, _params(args).embed)
        print(f"{args.k} most similar to the text {args.text!r} by {method}:")
        print(catalog.format_rows(rows))
        return 0
    trigger = catalog.resolve(args.item)
    rows = catalog.similar(trigger, method, args.k)
    print(f"{args.k} most similar to {catalog.label(trigger)} by {method}:")
    print(catalog.format_rows(rows))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mtmh.serving import Catalog

    catalog = Catalog.open(_layout(args))
    frame = catalog.export(args.method, args.k, args.out)
    print(f"wrote {len(frame)} rows ({frame['trigger'].nunique()} triggers, k={args.k}, "
          f"method {args.method}) to {args.out}")
    return 0


def cmd_sweep_alpha(args: argparse.Namespace) -> int:
    from mtmh.layout import DEFAULT
    from mtmh.steps.sweep import step_sweep_alpha

    points = step_sweep_alpha(_params(args), args.alphas)
    for p in points:
        print(f"alpha {p['alpha']:g}: recall@50 {p['recall@50']:.4f}, "
              f"relevance_rate@50 {p['relevance_rate@50']:.4f}")
    print(f"wrote {DEFAULT.alpha_sweep} and redrew {DEFAULT.tradeoff_png}; `dvc repro` "
          f"records the redrawn figure and logs the points to MLflow")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    # Imported here: flows/__init__ sets Prefect's defaults before Prefect loads.
    from flows.retrain import run_retrain

    return run_retrain(str(args.params), args.interactions, args.items)


def cmd_deploy(args: argparse.Namespace) -> int:
    from flows.deploy import serve_deployment

    serve_deployment(str(args.params))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from mtmh.report import format_table, read_metrics

    path = args.metrics or _layout(args).metrics
    metrics = read_metrics(path)
    print(f"Test-split metrics ({path}):")
    print(format_table(metrics))
    return 0


def _params(args: argparse.Namespace):
    from mtmh.config import load_params

    return load_params(args.params)


def _layout(args: argparse.Namespace):  # -> Layout
    from mtmh.layout import Layout

    return Layout(args.root)


def _add_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, default=Path("."), metavar="DIR",
                   help="read the outputs of the run under DIR, e.g. artifacts/retrain for "
                        "the retraining flow's (default: the DVC pipeline's, in .)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtmh",
        description="Item-to-item retrieval that balances engagement (recall) and topical "
                    "relevance. Run the pipeline with `make run` (or `dvc repro`), then query "
                    "its outputs with these commands from the repository root.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--params", default="params.yaml", type=Path,
                        help="parameter file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="run the data-quality gates on two files",
                       description="Run the Great Expectations gates on an interactions file "
                                   "and an items file (CSV or Parquet, columns as mapped in "
                                   "params.yaml). Exit 0 when they pass, 1 with the report.")
    p.add_argument("--interactions", type=Path, help="interactions file (default: params.yaml)")
    p.add_argument("--items", type=Path, help="items file (default: params.yaml)")
    p.add_argument("--report-dir", type=Path, default=None,
                   help="where to write the full results (default: validate.report_dir)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("similar", help="items similar to one item",
                       description="Print the top-K items for ITEM, an item id or a fragment "
                                   "of its title (case-insensitive). An ambiguous fragment "
                                   "lists the candidates. With --text, a fresh item given by "
                                   "its text alone is embedded and queried (methods: a "
                                   "trained model such as mtmh, or content). For a "
                                   "multi-head model, the head that found each item is "
                                   "shown.")
    p.add_argument("item", metavar="ITEM", nargs="?", help="item id or title fragment")
    p.add_argument("--text", help='text of a fresh item, e.g. "Title (2003) Comedy Drama"')
    p.add_argument("--k", type=_positive, default=10, help="how many items (default 10)")
    p.add_argument("--method", default=None,
                   help="method whose lists to use: a baseline, blend, mtmh, mtmh:HEAD or "
                        "an ablation (default: mtmh if trained, else itemcf)")
    _add_root(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("export", help="top-K lists of every item to Parquet",
                       description="Write columns trigger, item, rank, score for every "
                                   "catalogue item; ids as in the input data, rank from 1.")
    p.add_argument("--method", required=True, help="method name, e.g. itemcf")
    p.add_argument("--k", type=_positive, default=100, help="list length (default 100)")
    p.add_argument("--out", type=Path, required=True, help="output .parquet file")
    _add_root(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="print the metrics table of the last run")
    p.add_argument("--metrics", type=Path, default=None,
                   help="metrics JSON to print (default: reports/metrics.json under --root)")
    _add_root(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("retrain", help="one run of the Prefect retraining flow",
                       description="Validate, prepare, embed, train, index, evaluate, compare "
                                   "with the champion and promote, as one Prefect flow run "
                                   "(an ephemeral Prefect server unless PREFECT_API_URL is "
                                   "set). Skips when data, params and code are unchanged "
                                   "since the last successful run. Exit 1 when the data "
                                   "gate or any step fails.")
    p.add_argument("--interactions", type=Path, help="interactions file (default: params.yaml)")
    p.add_argument("--items", type=Path, help="items file (default: params.yaml)")
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("deploy", help="serve the retraining flow on its cron schedule",
                       description="Serve the retrain flow as a Prefect deployment with the "
                                   "cron schedule of orchestration.cron in params.yaml, "
                                   "against PREFECT_API_URL when set (a running Prefect "
                                   "server), else an ephemeral one. Runs until stopped.")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("sweep-alpha", help="retrain a single head per alpha; add to the figure",
                       description="Train one single-head model per relevance weight alpha "
                                   "(model settings from params.yaml), score each on the "
                                   "test split, write reports/sweeps/alpha.json and redraw "
                                   "the trade-off figure. Needs a finished `make run`; each "
                                   "point is one training (minutes), except the alphas of "
                                   "the pipeline's twotower and singlehead models, whose "
                                   "checkpoints are reused. The figure draws the "
                                   "points only while the model settings and data stay the "
                                   "ones they came from.")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.03, 0.1, 0.3, 1.0],
                   help="alpha values (default: 0 0.03 0.1 0.3 1)")
    p.set_defaults(func=cmd_sweep_alpha)

    p = sub.add_parser("materialise", help="write a bundled dataset in the generic form",
                       description="Write MovieLens-1M or -100K from the installed data "
                                   "packages as interactions.csv and items.csv.")
    p.add_argument("dataset", choices=["ml-1m", "ml-100k"])
    p.add_argument("--out", type=Path, default=Path("data"), help="folder (default: data)")
    p.set_defaults(func=cmd_materialise)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args = build_parser().parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose)
    return run_guarded(lambda: args.func(args), debug=args.debug)


def stage_main(step: Callable[..., object], *extra: object) -> None:
    """Entry point of a DVC stage: load params, run ``step(params, *extra)``, exit."""
    from mtmh.config import load_params

    setup_logging()

    def run() -> int:
        step(load_params(), *extra)
        return 0

    sys.exit(run_guarded(run, debug=bool(os.environ.get("MTMH_DEBUG"))))


if __name__ == "__main__":
    sys.exit(main())
