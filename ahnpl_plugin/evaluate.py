"""``python -m lavis.evaluate`` / ``python -m ahnpl_plugin.evaluate`` / ``ahnpl-evaluate``.

Evaluates ``run.test_splits`` with the weights of ``run.checkpoint`` (or ``run.resume_ckpt_path``,
which LAVIS's evaluate-only path ignores) or of the model's own ``pretrained``/``finetuned``.
"""

from __future__ import annotations

import sys

from ahnpl_plugin.train import build_runner, parse_args, run_cli


def _evaluate(argv=None):
    runner = build_runner(parse_args(argv, "AHNPL evaluation through LAVIS"), evaluate_only=True)
    return runner.evaluate_only_run()


def main(argv=None) -> int:
    return run_cli(_evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
