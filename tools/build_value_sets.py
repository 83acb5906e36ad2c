"""Regenerate the value-set data in smart_app/mappings/ from the reference VSAC expansions and an ICD-10-CM table.

A developer's build step; nothing imports this at run time (the committed mapping files are what runs). It writes:

- smart_app/mappings/vsac/<id>.json: each VSAC expansion that mappings/concepts.json names, copied from
  ../shared/terminology/valuesets/<id>.json with its OID, name, version, expansion date and source
  repository/path/commit (codes sorted, otherwise as in the source);
- smart_app/mappings/icd10cm_families.json: every ICD-10-CM family that concepts.json names (the root and all of
  its descendants in the code table), and every single ICD-10-CM code concepts.json lists, checked to be real codes.

concepts.json (written by hand) says which sets, subsets, families and exclusions make each project concept.

Usage, from the repository root with the reference material beside it (../shared):

    python3 -m venv /tmp/vs-build && /tmp/vs-build/bin/pip install -e '.[terminology]'
    /tmp/vs-build/bin/python tools/build_value_sets.py            # rewrite the files
    /tmp/vs-build/bin/python tools/build_value_sets.py --check    # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "smart_app" / "mappings"
CODE_TABLE = "simple-icd-10-cm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _matchers(concept: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for inc in concept.get("include", []):
        yield inc
        yield from inc.get("where", [])
    yield from concept.get("exclude", [])
    yield from concept.get("episode", [])


def _walk(matcher: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield matcher
    if "unless" in matcher:
        yield from _walk(matcher["unless"])


def referenced(concepts: dict[str, Any]) -> tuple[set[str], set[str], dict[str, str]]:
    """VSAC set ids, ICD-10-CM family roots and explicit ICD-10-CM codes (code -> display) named in concepts.json."""
    sets: set[str] = set()
    families: set[str] = set()
    codes: dict[str, str] = {}
    for concept in concepts.values():
        for m in (x for top in _matchers(concept) for x in _walk(top)):
            if "value_set" in m:
                sets.add(m["value_set"])
            if "in_value_set" in m:
                sets.add(m["in_value_set"])
            if "family" in m:
                families.add(m["family"])
        for inc in concept.get("include", []):
            for code, display in inc.get("codes", []) if "source" in inc else []:
                system, _, value = code.partition(":")
                if system == "icd10cm":
                    codes[value] = display
    return sets, families, codes


def vsac_file(shared: Path, set_id: str) -> dict[str, Any]:
    src = json.loads((shared / "terminology" / "valuesets" / f"{set_id}.json").read_text(encoding="utf-8"))
    oid = next((i["value"].removeprefix("urn:oid:") for i in src.get("identifier", []) if "oid" in i["value"]), None)
    rows: dict[str, list[list[str]]] = {}
    for c in src["expansion"]["contains"]:
        rows.setdefault(c["system"], []).append([c["code"], c.get("display") or ""])
    for system_rows in rows.values():
        system_rows.sort()
    return {
        "id": set_id,
        "resource_id": src["id"],
        "url": src["url"],
        "oid": oid,
        "name": src["name"],
        "title": src["title"],
        "version": src.get("version"),
        "status": src.get("status"),
        "expansion_timestamp": src["expansion"].get("timestamp"),
        "source": src["meta"]["source"],
        "copied_from": f"shared/terminology/valuesets/{set_id}.json (reference material; codes sorted, not edited)",
        "total": sum(len(r) for r in rows.values()),
        "codes": rows,
    }


def families_file(roots: set[str], singles: dict[str, str]) -> dict[str, Any]:
    import simple_icd_10_cm as cm  # build-time only: the mapping files it writes are what the project reads

    problems = [f"{code}: not an ICD-10-CM code in {CODE_TABLE}" for code in sorted(roots | set(singles))]
    problems = [p for p in problems if not cm.is_valid_item(p.split(":")[0])]
    if problems:
        raise SystemExit("\n".join(problems))
    families = {}
    for root in sorted(roots):
        members = [root, *cm.get_descendants(root)]
        families[root] = {
            "display": cm.get_description(root),
            "codes": [[cm.add_dot(c), cm.get_description(c), cm.is_leaf(c)] for c in members],
        }
    verified = {code: cm.get_description(code) for code in sorted(singles)}
    return {
        "_provenance": {
            "table": CODE_TABLE,
            "version": importlib.metadata.version(CODE_TABLE),
            "data": [
                getattr(cm.simple_icd_10_cm, "_all_codes_package_file_name", "?"),
                getattr(cm.simple_icd_10_cm, "_classification_data_package_file_name", "?"),
            ],
            "note": "ICD-10-CM (CMS/NCHS) code table. Each family is its root and every descendant (billable: the "
            "third item); concepts.json filters them (e.g. 7th character A only). 'verified' lists the single "
            "ICD-10-CM codes concepts.json names, each checked against the table.",
            "generated_by": "tools/build_value_sets.py",
        },
        "system": ICD10CM,
        "families": families,
        "verified": verified,
    }


def dump(obj: Any, indent: int = 0) -> str:
    """JSON with each code row on one line, so that a re-expansion reads as a small diff."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and any(isinstance(x, dict | list) for x in obj):
        return "[\n" + ",\n".join(f"{inner}{dump(x, indent + 2)}" for x in obj) + f"\n{pad}]"
    return json.dumps(obj, ensure_ascii=False)


def outputs(shared: Path) -> dict[Path, str]:
    concepts = json.loads((MAPPINGS / "concepts.json").read_text(encoding="utf-8"))["concepts"]
    sets, roots, singles = referenced(concepts)
    files = {MAPPINGS / "vsac" / f"{s}.json": dump(vsac_file(shared, s)) + "\n" for s in sorted(sets)}
    files[MAPPINGS / "icd10cm_families.json"] = dump(families_file(roots, singles)) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="reference material (../shared)")
    parser.add_argument("--check", action="store_true", help="only report whether the committed files are current")
    args = parser.parse_args(argv)
    files = outputs(args.shared)
    stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    names = {p.name for p in files}
    extra = [p for p in (MAPPINGS / "vsac").glob("*.json") if p.name not in names]
    if args.check:
        for p in [*stale, *extra]:
            print(f"stale: {p.relative_to(ROOT)}")
        return 1 if stale or extra else 0
    (MAPPINGS / "vsac").mkdir(exist_ok=True)
    for p in stale:
        p.write_text(files[p], encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)} (no concept names it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
