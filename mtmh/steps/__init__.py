"""The pipeline's steps, one module per DVC stage, each reading and writing one Layout.

DVC stages (``stages/``) and Prefect flows (``flows/``) call these same functions, so each
step is written once. Stages use :data:`mtmh.layout.DEFAULT` (the paths of ``dvc.yaml``,
relative to the repository root); the retraining flow passes a layout of its own, so its
outputs stay apart from the pipeline's.

One module per stage keeps ``dvc.yaml`` honest: each stage lists its own step module and
the library modules it imports as dependencies (``tests/test_dvc_deps.py`` checks it), so
editing one step re-runs that stage and what follows, not the whole pipeline.
"""
