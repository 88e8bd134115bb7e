"""Re-judge rounds 3 to 7 after a rule change: regenerate the negatives of the same captions,
carry the judgement of every row whose negative is unchanged, take the new judgement of every
changed row from a judgements file, and count rows that are no longer emitted. Not a test.

    python -m ahnpl_plugin.negatives --input HELDOUT.txt --output NEW_heldout.jsonl
    python -m ahnpl_plugin.negatives --input UNREFINED.txt --output NEW_unrefined.jsonl
    python -m ahnpl_plugin.negatives --input MEASURED.txt --output NEW_measured.jsonl
    python quality/negatives_audit/rejudge.py NEW_heldout.jsonl NEW_unrefined.jsonl NEW_measured.jsonl JUDGED.tsv SUFFIX

HELDOUT/MEASURED: SugarCrepe's 4,345 positive captions in SHA-1 order, the 2,345 after the first
2,000 / the first 2,000; UNREFINED: the 3,092 of data_unrefined/ not among them (README.md). Write
the three files (one caption per line) from a sugar-crepe checkout with

    python quality/negatives_audit/rejudge.py captions PATH/TO/sugar-crepe OUT_DIR

JUDGED.tsv: type, caption, new negative, grammatical, changes_meaning, of_type, note (one changed
row each; a row missing there stops the script). Writes <round>_<SUFFIX>.tsv beside this file and
prints per type: kept (same / changed), dropped (and how many of those were accepted before),
accepted among the kept rows with a 95% Wilson interval.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROUNDS = (("round3_final", 0), ("round4_final_unrefined", 1), ("round5_fresh", 2), ("round6_fresh", 3),
          ("round7_fresh", 2))
COLUMNS = ["id", "type", "caption", "negative", "grammatical", "changes_meaning", "of_type", "accepted", "note"]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def read_negatives(path: str) -> dict[str, dict]:
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "negatives_header" not in record:
            out[record["caption"].strip()] = record
    return out


def write_caption_sets(sugarcrepe: str, out_dir: str) -> None:
    """measured.txt, heldout.txt, unrefined.txt (see the module docstring)."""
    import hashlib

    def distinct(folder: Path) -> list[str]:
        captions: dict[str, None] = {}
        for path in sorted(folder.glob("*.json")):
            for item in json.loads(path.read_text(encoding="utf-8")).values():
                captions.setdefault(item["caption"].strip())
        return sorted(captions, key=lambda c: hashlib.sha1(c.encode()).hexdigest())

    for sub in ("data", "data_unrefined"):
        if not (Path(sugarcrepe) / sub).is_dir():
            raise SystemExit(f"{sugarcrepe} has no {sub}/ folder: give a sugar-crepe checkout")
    refined = distinct(Path(sugarcrepe) / "data")
    known = set(refined)
    unrefined = [c for c in distinct(Path(sugarcrepe) / "data_unrefined") if c not in known]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, captions in (("measured", refined[:2000]), ("heldout", refined[2000:]), ("unrefined", unrefined)):
        (out / f"{name}.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
        print(f"{name}.txt: {len(captions)} captions")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "captions":
        write_caption_sets(*argv[1:3])
        return 0
    heldout, unrefined, measured, judged_path, suffix = argv
    generated = (read_negatives(heldout), read_negatives(unrefined), read_negatives(measured))
    generated += ({**generated[0], **generated[1], **generated[2]},)  # round 6 draws from all three
    judged = {(r[0], r[1], r[2]): r[3:] for r in csv.reader(open(judged_path, encoding="utf-8"), delimiter="\t")}
    stats: dict[str, dict[str, int]] = {}
    titles = iter(("rounds 3 + 4", "round 5", "round 6"))
    for name, which in ROUNDS:
        if name in ("round5_fresh", "round6_fresh", "round7_fresh"):
            _print(stats, next(titles))
            stats = {}
        rows = list(csv.DictReader(open(HERE / f"{name}.tsv", encoding="utf-8"), delimiter="\t"))
        out = []
        for row in rows:
            s = stats.setdefault(row["type"], dict.fromkeys(
                ("same", "changed", "dropped", "dropped_accepted", "accepted", "accepted_before"), 0))
            s["accepted_before"] += int(row["accepted"])
            record = generated[which].get(row["caption"].strip())
            negative = record.get(row["type"] + "_aug_caption") if record else None
            if negative in (None, "###"):
                s["dropped"] += 1
                s["dropped_accepted"] += int(row["accepted"])
                continue
            if negative == row["negative"]:
                s["same"] += 1
                new = dict(row)
            else:
                key = (row["type"], row["caption"], negative)
                if key not in judged:
                    raise SystemExit(f"not judged yet: {key}")
                g, m, t, note = judged[key]
                s["changed"] += 1
                new = dict(row, negative=negative, grammatical=g, changes_meaning=m, of_type=t,
                           accepted=str(int(g == m == t == "1")), note=f"changed: {note}".rstrip(": "))
            s["accepted"] += int(new["accepted"])
            out.append(new)
        with open(HERE / f"{name}_{suffix}.tsv", "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(out)
    _print(stats, "round 7")
    return 0


def _print(stats: dict[str, dict[str, int]], title: str) -> None:
    print(f"\n{title}\n")
    print("| type | kept (same + changed) | dropped (accepted before) | accepted before | accepted now (95% Wilson) |")
    print("|---|---|---|---|---|")
    for t, s in stats.items():
        kept = s["same"] + s["changed"]
        before = s["same"] + s["changed"] + s["dropped"]
        lo, hi = wilson(s["accepted"], kept)
        print(f"| {t} | {kept} ({s['same']} + {s['changed']}) | {s['dropped']} ({s['dropped_accepted']}) | "
              f"{s['accepted_before']}/{before} = {100 * s['accepted_before'] / before:.1f}% | "
              f"{s['accepted']}/{kept} = {100 * s['accepted'] / kept:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] |")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
