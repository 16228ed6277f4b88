"""The fixed ingredients of the demo store: product types, names and places (our own)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductSpec:
    """A product type: its option axes and the dollar range its variants are priced in."""

    name: str
    product_id: str
    options: tuple[tuple[str, tuple[str, ...]], ...]
    low: int
    high: int


CATALOG: tuple[ProductSpec, ...] = (
    ProductSpec(
        "T-Shirt",
        "4210000001",
        (("color", ("black", "white", "blue", "red")), ("size", ("S", "M", "L", "XL"))),
        18,
        35,
    ),
    ProductSpec(
        "Running Shoes",
        "4210000002",
        (("size", ("7", "8", "9", "10", "11")), ("color", ("black", "white", "red"))),
        70,
        160,
    ),
    ProductSpec(
        "Backpack",
        "4210000003",
        (("color", ("black", "grey", "green")), ("size", ("small", "medium", "large"))),
        40,
        120,
    ),
    ProductSpec(
        "Water Bottle",
        "4210000004",
        (("capacity", ("500ml", "750ml", "1000ml")), ("material", ("steel", "glass", "plastic"))),
        12,
        45,
    ),
    ProductSpec(
        "Headphones",
        "4210000005",
        (
            ("type", ("over-ear", "on-ear", "in-ear")),
            ("color", ("black", "white", "blue")),
            ("connectivity", ("wired", "wireless")),
        ),
        60,
        350,
    ),
    ProductSpec(
        "Laptop",
        "4210000006",
        (
            ("screen size", ("13-inch", "15-inch")),
            ("processor", ("i5", "i7", "i9")),
            ("ram", ("8GB", "16GB", "32GB")),
            ("storage", ("256GB SSD", "512GB SSD", "1TB SSD")),
        ),
        650,
        2400,
    ),
    ProductSpec(
        "Coffee Maker",
        "4210000007",
        (
            ("capacity", ("4 cups", "8 cups", "12 cups")),
            ("type", ("drip", "pour-over", "french press")),
        ),
        35,
        250,
    ),
    ProductSpec(
        "Office Chair",
        "4210000008",
        (("material", ("mesh", "fabric", "leather")), ("color", ("black", "grey", "blue"))),
        120,
        520,
    ),
    ProductSpec(
        "Desk Lamp",
        "4210000009",
        (("color", ("black", "white", "silver")), ("brightness", ("low", "medium", "high"))),
        25,
        90,
    ),
    ProductSpec(
        "Smart Watch",
        "4210000010",
        (
            ("color", ("black", "silver", "gold")),
            ("band", ("silicone", "leather", "metal")),
            ("display", ("AMOLED", "LCD")),
        ),
        150,
        450,
    ),
    ProductSpec(
        "Yoga Mat",
        "4210000011",
        (
            ("thickness", ("4mm", "6mm", "8mm")),
            ("material", ("PVC", "TPE", "natural rubber")),
            ("color", ("green", "purple", "blue")),
        ),
        20,
        80,
    ),
    ProductSpec(
        "Bluetooth Speaker",
        "4210000012",
        (
            ("color", ("black", "blue", "red")),
            ("battery life", ("10 hours", "20 hours")),
            ("water resistance", ("yes", "no")),
        ),
        40,
        200,
    ),
)

FIRST_NAMES = (
    "Ava",
    "Liam",
    "Noor",
    "Ethan",
    "Sofia",
    "Mateo",
    "Hana",
    "Lucas",
    "Chloe",
    "Arjun",
    "Grace",
    "Yusuf",
    "Ines",
    "Daniel",
    "Lena",
    "Kofi",
    "Maya",
    "Samuel",
    "Aisha",
    "Julian",
    "Elena",
    "Tomas",
    "Priya",
    "Oscar",
    "Zoe",
    "Felix",
    "Amara",
    "Hugo",
    "Leila",
    "Ivan",
)
LAST_NAMES = (
    "Garcia",
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Kim",
    "Patel",
    "Silva",
    "Novak",
    "Cohen",
    "Larsen",
    "Moreau",
    "Tanaka",
    "Walker",
    "Haddad",
    "Kowalski",
    "Reyes",
    "Murphy",
    "Lindqvist",
    "Adeyemi",
    "Fischer",
    "Costa",
    "Yamamoto",
    "Brennan",
    "Dubois",
    "Ortiz",
)
STREETS = (
    "Oak Street",
    "Pine Avenue",
    "Cedar Lane",
    "Lakeview Drive",
    "Hillcrest Road",
    "Riverside Way",
    "Elm Court",
    "Sunset Boulevard",
    "Park Place",
    "Willow Street",
)
PLACES = (
    ("Seattle", "WA", "981"),
    ("Portland", "OR", "972"),
    ("Denver", "CO", "802"),
    ("Phoenix", "AZ", "850"),
    ("Chicago", "IL", "606"),
    ("Boston", "MA", "021"),
    ("Atlanta", "GA", "303"),
    ("Miami", "FL", "331"),
    ("Nashville", "TN", "372"),
    ("Columbus", "OH", "432"),
    ("San Diego", "CA", "921"),
    ("Minneapolis", "MN", "554"),
)
CARD_BRANDS = ("visa", "mastercard", "amex", "discover")
