"""``python -m ahnpl_plugin.data``: data preparation commands.

* ``import-npy --allow-pickle SRC OUT.jsonl``: published CE-CLIP/AHNPL ``.npy`` negatives -> JSONL.
* ``write-shards``: annotations (+ negatives) + images -> webdataset ``.tar`` shards + sizes.json.
* ``check --cfg-path X``: verify every path of a training config (exit 1 when a problem is found).
* ``image-neighbours --cfg-path X``: NegCLIP's hard-negative images: each training image's nearest
  images by the config model's embeddings, for the builder's ``neighbour_images_file``.

Errors are one line on stderr and exit code 2; no partial output file is left behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_PROBLEMS = 1
EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    from ahnpl_plugin.cli_text import plain

    parser = argparse.ArgumentParser(prog="python -m ahnpl_plugin.data", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    imp = sub.add_parser("import-npy", help="convert CE-CLIP/AHNPL .npy hard-negative files to JSONL")
    imp.add_argument("source", metavar="SRC", help="an .npy file or a folder of .npy shards")
    imp.add_argument("output", metavar="OUT.jsonl", help="JSON Lines output (one record per caption)")
    imp.add_argument("--allow-pickle", action="store_true",
                     help="allow unpickling SRC (pickles can run code: only for files you trust)")
    imp.add_argument("--image-split", default="train2014", choices=("train2014", "val2014", "auto"),
                     help="COCO 2014 folder of the images (default train2014, the published files'); auto: look "
                          "each image id up under --image-root")
    imp.add_argument("--image-root", default=None, metavar="DIR",
                     help="COCO images folder (holding train2014/, val2014/): needed by auto; otherwise counts missing files")

    shards = sub.add_parser("write-shards", help="write webdataset shards (jpg + json per sample)")
    shards.add_argument("--annotations", required=True, metavar="FILE",
                        help="COCO captions_train2014.json, a Karpathy train .json, or a .jsonl of "
                             "{image, caption, [negatives]} records")
    shards.add_argument("--negatives", default=None, metavar="FILE", help="negatives JSONL to join onto the rows")
    shards.add_argument("--unmatched", default="error", choices=("error", "drop", "keep"),
                        help="rows without negatives: error (default), drop, keep (no negatives)")
    shards.add_argument("--images", required=True, metavar="DIR", help="folder the rows' image paths are relative to")
    shards.add_argument("--output", required=True, metavar="DIR", help="folder for the shards and sizes.json")
    shards.add_argument("--prefix", default="shard", help="shard file name prefix (default shard: shard-000000.tar)")
    shards.add_argument("--samples-per-shard", type=int, default=1000, metavar="N", help="samples per shard (default 1000)")
    shards.add_argument("--seed", type=int, default=0, help="seed of the row shuffle before sharding (default 0)")
    shards.add_argument("--no-shuffle", action="store_true", help="keep the input order")
    shards.add_argument("--skip-missing", action="store_true", help="leave out rows whose image is missing")
    shards.add_argument("--no-progress", action="store_true", help="no progress bar")

    check = sub.add_parser("check", help="verify every path of a training config")
    check.add_argument("--cfg-path", required=True, metavar="CONFIG",
                       help="the YAML config to check: a path, or a shipped project config's name (e.g. coco)")
    check.add_argument("--options", nargs="+", default=[], help="key=value overrides, as for training")
    check.add_argument("--decode", default="eval", choices=("eval", "all", "none"),
                       help="open and decode the images found: of the evaluation splits (default: they are small, "
                            "and a bad one would crash validation after a training epoch), of every split, or none")
    check.add_argument("--workers", type=int, default=None, metavar="N",
                       help="decoding threads (default: two per core)")

    nn = sub.add_parser("image-neighbours", help="nearest training images by the model's embeddings (NegCLIP's "
                                                 "hard-negative images)")
    nn.add_argument("--cfg-path", required=True, metavar="CONFIG",
                    help="a training config with an ahnpl_coco/ahnpl_flickr30k dataset (path or shipped project name)")
    nn.add_argument("--options", nargs="+", default=[], help="key=value overrides, as for training")
    nn.add_argument("--output", default=None, metavar="FILE.json",
                    help="the image-neighbours file (default: the dataset's neighbour_images_file)")
    nn.add_argument("--k", type=int, default=3, help="neighbours per image (default 3, NegCLIP's)")
    nn.add_argument("--batch-size", type=int, default=256, help="images per encoding batch (default 256)")
    nn.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    nn.add_argument("--workers", type=int, default=4, help="image loading processes (default 4)")
    nn.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run_image_neighbours(args) -> int:
    from ahnpl_plugin.data.image_neighbours import build_image_neighbours

    report = build_image_neighbours(args.cfg_path, args.options, k=args.k, output=args.output,
                                    batch_size=args.batch_size, device=args.device, workers=args.workers,
                                    progress=not args.no_progress)
    for line in report.lines():
        print(line, file=sys.stderr)
    return 0


def run_import(args) -> int:
    from ahnpl_plugin.errors import DataError
    from ahnpl_plugin.data.npy_import import ImportStats, convert
    from ahnpl_plugin.negatives.records import write_jsonl

    output = Path(args.output)
    if not output.parent.is_dir():
        raise DataError(f"{output}: the output folder {str(output.parent)!r} does not exist")
    stats = ImportStats()
    write_jsonl(output, convert(args.source, args.allow_pickle, args.image_split, args.image_root, stats))
    for line in stats.lines():
        print(line, file=sys.stderr)
    print(f"wrote {output}", file=sys.stderr)
    return 0


def read_shard_records(annotations: str, negatives: str | None, unmatched: str) -> list[dict]:
    """Rows for write-shards: any train annotation file (COCO captions, Karpathy, .jsonl), joined with ``negatives``."""
    from ahnpl_plugin.data.annotations import read_train_annotations
    from ahnpl_plugin.data.negatives_join import join_negatives, read_negatives

    rows = read_train_annotations(annotations)
    if negatives is None:
        return rows
    return join_negatives(rows, read_negatives(negatives), unmatched=unmatched,
                          annotations=annotations, negatives_path=negatives).records


def run_write_shards(args) -> int:
    from ahnpl_plugin.errors import DataError
    from ahnpl_plugin.data.shards import write_shards

    if not Path(args.images).is_dir():
        raise DataError(f"--images {args.images}: no such folder")
    records = read_shard_records(args.annotations, args.negatives, args.unmatched)
    report = write_shards(records, args.images, args.output, prefix=args.prefix,
                          samples_per_shard=args.samples_per_shard,
                          shuffle_seed=None if args.no_shuffle else args.seed,
                          skip_missing=args.skip_missing, progress=not args.no_progress)
    print(f"wrote {report.samples} samples in {len(report.shards)} shards"
          + (f", left out {report.skipped_missing} with missing images" if report.skipped_missing else "")
          + (f", re-encoded {report.reencoded} non-JPEG images" if report.reencoded else ""), file=sys.stderr)
    print(f"build_info.shards: {report.pattern(args.prefix)}", file=sys.stderr)
    return 0


def run_check(args) -> int:
    from ahnpl_plugin.data.config_check import check_config

    from ahnpl_plugin.data.images import decode_problems

    reports = check_config(args.cfg_path, args.options)
    for report in reports:
        for split, images in report.images.items():
            if args.decode == "none" or (args.decode == "eval" and split in ("train",)):
                continue
            bad = decode_problems(images, workers=args.workers, desc=f"{report.title} {split}: decoding")
            report.add(f"{split} images decoded: {len(images) - len(bad)} of {len(images)} OK")
            for line in bad:
                report.problem(f"{split} image {line}: replace the file, or remove its rows")
        print(report.render())
    problems = [p for r in reports for p in r.problems]
    if problems:
        print(f"{len(problems)} problem(s); first: {problems[0]}")
        return EXIT_PROBLEMS
    print("all paths OK")
    return 0


COMMANDS = {"import-npy": run_import, "write-shards": run_write_shards, "check": run_check,
            "image-neighbours": run_image_neighbours}


def main(argv: list[str] | None = None) -> int:
    from ahnpl_plugin.errors import UserError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
