"""The MME data files agree with each other and with the verified codes, so a table edit cannot drift silently."""

from __future__ import annotations

from smart_app.core.mme.products import PRODUCT_TABLE, product_table
from smart_app.core.mme.route import parenteral_routes
from smart_app.mappings import read_csv, read_json

VERIFIED_INGREDIENTS = {  # RULES.md section 6.3
    "morphine": "7052",
    "oxycodone": "7804",
    "hydromorphone": "3423",
    "hydrocodone": "5489",
    "fentanyl": "4337",
    "methadone": "6813",
    "buprenorphine": "1819",
    "codeine": "2670",
    "tramadol": "10689",
    "tapentadol": "787390",
    "oxymorphone": "7814",
    "meperidine": "6754",
    "levorphanol": "6378",
    "pentazocine": "8001",
    "butorphanol": "1841",
    "dihydrocodeine": "23088",
}


def test_opioid_ingredients_are_the_verified_codes() -> None:
    opioids = read_json("opioid_ingredients.json")["opioids"]
    assert {name: spec["rxcui"] for name, spec in opioids.items()} == VERIFIED_INGREDIENTS


def test_every_product_row_names_a_known_ingredient_with_its_code() -> None:
    for row in read_csv(PRODUCT_TABLE):
        assert VERIFIED_INGREDIENTS[row["opioid_ingredient"]] == row["opioid_ingredient_rxcui"], row["rxcui"]


def test_every_product_row_has_a_usable_strength() -> None:
    unusable = [p.rxcui for p in product_table().values() if p.strength is None]
    assert unusable == []


def test_factor_tables_use_known_ingredients_routes_and_units() -> None:
    routes = {route for _, route in read_json("medication_routes.json")["words"]} | set(
        read_json("route_codes.json")["routes"]
    )
    for key, table in read_json("mme_factors.json")["tables"].items():
        assert table["document"] in read_json("guidelines.json")["documents"], key
        for entry in table["factors"]:
            assert entry["ingredient"] in VERIFIED_INGREDIENTS
            assert entry["unit"] in ("mg/day", "mcg/hr", "mcg/day")
            assert set(entry["routes"]) <= routes | parenteral_routes()
            assert ("factor" in entry) != ("bands" in entry)


def test_cdc_tables_exclude_buprenorphine_and_anzca_counts_it() -> None:
    tables = read_json("mme_factors.json")["tables"]
    assert "buprenorphine" in tables["cdc-2022"]["excluded"]
    assert "buprenorphine" in tables["cdc-2016"]["excluded"]
    assert any(e["ingredient"] == "buprenorphine" for e in tables["anzca-2021"]["factors"])
    assert "methadone" in tables["anzca-2021"]["not_convertible"]
