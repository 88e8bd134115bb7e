"""``python -m lavis.evaluate`` / ``python -m ahnpl_plugin.evaluate`` / ``ahnpl-evaluate``.

Evaluates ``run.test_splits`` with the weights of ``run.checkpoint`` (or ``run.resume_ckpt_path``,
which LAVIS's evaluate-only path ignores) or of the model's own ``pretrained``/``finetuned``.
"""

from __future__ import annotations

import sys

from ahnpl_plugin.train import build_runner, parse_args, run_cli

EVALUATE = {
    "prog": "python -m lavis.evaluate",
    "description": "Evaluate a model through LAVIS on the config's run.test_splits: a trained run's weights "
                   "with --options run.checkpoint=<run folder>/checkpoint_best.pth, else the model's own "
                   "pretrained/finetuned weights. Results go to a new folder under run.output_dir.",
    "example": "run.checkpoint=output/demo/<run>/checkpoint_best.pth",
}


def _evaluate(argv=None):
    runner = build_runner(parse_args(argv, **EVALUATE), evaluate_only=True)
    return runner.evaluate_only_run()


def main(argv=None) -> int:
    return run_cli(_evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
