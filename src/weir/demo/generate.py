"""A seeded, realistic card-fraud world: customers with PII and months of transactions.

The fraud label has real but imperfect signal: large amounts for the customer, night hours,
online channel, risky merchant categories and foreign currency raise the odds; a hidden
'compromised account' factor that no column shows keeps a model well short of perfect.

The raw files carry the dirt real exports carry: missing values, exact duplicate rows,
outlier amounts, lower-case country codes, and a few malformed lines (wrong column count,
unparseable numbers and dates) scattered through the file.
"""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Edsger",
    "Frances",
    "Donald",
    "Sophie",
    "Amara",
    "Mateo",
    "Yuki",
    "Ines",
    "Omar",
    "Priya",
    "Lars",
    "Chiara",
    "Tomasz",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Dijkstra",
    "Allen",
    "Knuth",
    "Martin",
    "Okafor",
    "Garcia",
    "Tanaka",
    "Silva",
    "Haddad",
    "Patel",
    "Nilsson",
    "Rossi",
    "Nowak",
]
COUNTRIES = ["GB", "US", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "IE"]
COUNTRY_WEIGHTS = [0.22, 0.2, 0.14, 0.1, 0.08, 0.07, 0.06, 0.05, 0.05, 0.03]
CURRENCY = {"GB": "GBP", "US": "USD", "SE": "SEK", "PL": "PLN"}  # the rest use EUR
CALLING = {
    "GB": "+44",
    "US": "+1",
    "DE": "+49",
    "FR": "+33",
    "ES": "+34",
    "IT": "+39",
    "NL": "+31",
    "SE": "+46",
    "PL": "+48",
    "IE": "+353",
}
CATEGORIES = [
    "grocery",
    "restaurants",
    "fuel",
    "fashion",
    "travel",
    "entertainment",
    "online_services",
    "electronics",
    "gift_cards",
]
CATEGORY_WEIGHTS = [0.26, 0.16, 0.11, 0.1, 0.07, 0.08, 0.1, 0.07, 0.05]
CATEGORY_RISK = {"electronics": 1.3, "gift_cards": 1.9, "travel": 0.5, "online_services": 0.4}
CHANNELS = ["pos", "contactless", "online", "atm"]
CHANNEL_WEIGHTS = [0.35, 0.3, 0.3, 0.05]
DEVICES = ["ios", "android", "web"]
START = np.datetime64("2026-01-01T00:00:00", "s")
MONTHS = 6


@dataclass(frozen=True)
class DemoData:
    customers: Path
    transactions: Path
    customer_rows: int
    transaction_rows: int
    malformed_lines: int
    duplicate_rows: int


def generate(directory: Path, rows: int = 100_000, seed: int = 7) -> DemoData:
    """Write crm.db (an SQLite CRM with the customers) and transactions.csv into `directory`;
    same seed, same rows."""
    if rows < 1000:
        raise ValueError("the demo needs at least 1000 transactions")
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    n_customers = max(200, rows // 40)
    customers, latent = _customers(rng, n_customers)
    customers_path = directory / "crm.db"
    _write_sqlite(customers, customers_path)
    table = _transactions(rng, rows, latent)
    table, duplicates = _with_duplicates(rng, table)
    bad = _malformed_lines(rng, max(5, rows // 20_000))
    transactions_path = directory / "transactions.csv"
    _write_csv(table, transactions_path, rng, bad_lines=bad)
    return DemoData(
        customers_path, transactions_path, customers.num_rows, table.num_rows, len(bad), duplicates
    )


def _customers(rng: np.random.Generator, n: int) -> tuple[pa.Table, dict[str, np.ndarray]]:
    ids = np.arange(1, n + 1)
    first = rng.choice(FIRST, n)
    last = rng.choice(LAST, n)
    country = rng.choice(COUNTRIES, n, p=COUNTRY_WEIGHTS)
    email = np.char.add(np.char.add(np.char.lower(first), "."), np.char.lower(last))
    email = np.char.add(np.char.add(email, ids.astype(str)), "@example.com")
    phone = np.array(
        [f"{CALLING[c]} {rng.integers(100, 999)} {rng.integers(1000000, 9999999)}" for c in country]
    )
    age_days = rng.integers(18 * 365, 85 * 365, n)
    birth = np.datetime64("2026-01-01", "D") - age_days.astype("timedelta64[D]")
    signup = np.datetime64("2026-01-01", "D") - rng.integers(30, 3650, n).astype("timedelta64[D]")
    # dirt: some e-mails missing, some country codes in lower case
    email_list = [None if rng.random() < 0.01 else e for e in email.tolist()]
    country_raw = [c.lower() if rng.random() < 0.02 else c for c in country.tolist()]
    table = pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "name": pa.array(np.char.add(np.char.add(first, " "), last).tolist()),
            "email": pa.array(email_list, pa.string()),
            "phone": pa.array(phone.tolist()),
            "birth_date": pa.array(birth),
            "country": pa.array(country_raw),
            "signup_date": pa.array(signup),
        }
    )
    latent = {
        "country": country,
        "typical_amount": rng.lognormal(3.4, 0.6, n),
        "activity": rng.pareto(1.5, n) + 1.0,
        "compromised": rng.random(n) < 0.03,
        "device": rng.choice(DEVICES, n, p=[0.45, 0.4, 0.15]),
    }
    return table, latent


def _transactions(rng: np.random.Generator, rows: int, latent: dict[str, np.ndarray]) -> pa.Table:
    n_customers = len(latent["country"])
    weights = latent["activity"] / latent["activity"].sum()
    customer = rng.choice(n_customers, rows, p=weights)
    seconds = rng.integers(0, MONTHS * 30 * 86400, rows)
    # shift a share of times into daytime hours, as card use really peaks
    day_start = (seconds // 86400) * 86400
    daytime = rng.random(rows) < 0.7
    seconds = np.where(daytime, day_start + rng.integers(8 * 3600, 21 * 3600, rows), seconds)
    order = np.argsort(seconds, kind="stable")
    customer, seconds = customer[order], seconds[order]
    hour = (seconds % 86400) // 3600
    channel = rng.choice(CHANNELS, rows, p=CHANNEL_WEIGHTS)
    category_index = rng.choice(len(CATEGORIES), rows, p=CATEGORY_WEIGHTS)
    category = np.array(CATEGORIES)[category_index]
    home = np.array([CURRENCY.get(c, "EUR") for c in latent["country"]])[customer]
    foreign = rng.random(rows) < 0.06
    other = rng.choice(["USD", "EUR", "GBP", "TRY", "THB", "AED"], rows)
    currency = np.where(foreign & (other != home), other, home)
    amount = latent["typical_amount"][customer] * rng.lognormal(0.0, 0.7, rows)
    big = rng.random(rows) < 0.05
    amount = np.where(big, amount * rng.uniform(4, 15, rows), amount)
    usual = latent["device"][customer]
    switched = rng.random(rows) < 0.08
    device = np.where(switched, rng.choice(DEVICES, rows), usual)
    device = np.where(np.isin(channel, ["pos", "contactless", "atm"]), "terminal", device)
    category_risk = np.array([CATEGORY_RISK.get(c, 0.0) for c in CATEGORIES])[category_index]
    logit = (
        -5.7
        + 2.6 * big
        + 1.4 * (hour < 6)
        + 1.1 * (channel == "online")
        + category_risk
        + 1.7 * (currency != home)
        + 1.4 * (switched & (channel == "online"))
        + 1.6 * latent["compromised"][customer]
        + rng.normal(0.0, 0.5, rows)
    )
    fraud = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    amount = np.round(amount, 2)
    # dirt: missing values and data-entry outliers
    outlier = rng.random(rows) < 0.0005
    amount = np.where(outlier, amount * 1000, amount)
    amount_list = [
        None if m else a for a, m in zip(amount.tolist(), rng.random(rows) < 0.003, strict=True)
    ]
    device_list = [
        None if m else d for d, m in zip(device.tolist(), rng.random(rows) < 0.015, strict=True)
    ]
    category_list = [
        None if m else c for c, m in zip(category.tolist(), rng.random(rows) < 0.005, strict=True)
    ]
    timestamps = (START + seconds.astype("timedelta64[s]")).astype("datetime64[s]")
    return pa.table(
        {
            "txn_id": pa.array(np.arange(1, rows + 1), pa.int64()),
            "customer_id": pa.array(customer + 1, pa.int64()),
            "ts": pa.array(timestamps).cast(pa.timestamp("s", tz="UTC")),
            "amount": pa.array(amount_list, pa.float64()),
            "currency": pa.array(currency.tolist()),
            "merchant_category": pa.array(category_list, pa.string()),
            "channel": pa.array(channel.tolist()),
            "device": pa.array(device_list, pa.string()),
            "is_fraud": pa.array(fraud.astype(np.int64)),
        }
    )


def _with_duplicates(rng: np.random.Generator, table: pa.Table) -> tuple[pa.Table, int]:
    """Exact re-sent rows, as exports that retry produce; placed next to their originals."""
    rows = table.num_rows
    picked = np.sort(rng.choice(rows, max(1, rows // 250), replace=False))
    indices = np.sort(np.concatenate([np.arange(rows), picked]), kind="stable")
    return table.take(pa.array(indices)), len(picked)


def _malformed_lines(rng: np.random.Generator, count: int) -> list[str]:
    kinds = [
        "{id},{c},2026-02-03 10:11:12Z,12,50,EUR,grocery,pos,terminal,0",  # decimal comma: 1 column too many
        "{id},{c},2026-02-03 10:11:12Z,N/A,EUR,grocery,pos,terminal,0",  # not a number
        "{id},{c},31/02/2026 10:11,20.00,EUR,fuel,pos,terminal,0",  # impossible date, other format
        "{id},{c},2026-02-03 10:11:12Z,20.00,EUR",  # truncated line
    ]
    return [
        kinds[i % len(kinds)].format(id=9_000_000_000 + i, c=int(rng.integers(1, 100)))
        for i in range(count)
    ]


def _write_sqlite(table: pa.Table, path: Path) -> None:
    """The CRM's customer table, as an application would keep it: dates as ISO text."""
    temporary = path.with_suffix(".db.tmp")
    temporary.unlink(missing_ok=True)
    with sqlite3.connect(temporary) as connection:
        connection.execute(
            "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "email TEXT, phone TEXT, birth_date DATE, country TEXT, signup_date DATE)"
        )
        rows = [
            tuple(str(v) if isinstance(v, dt.date) else v for v in row.values())
            for row in table.to_pylist()
        ]
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    connection.close()
    temporary.replace(path)


def _write_csv(table: pa.Table, path: Path, rng: np.random.Generator, bad_lines: list[str]) -> None:
    """Write `table` as CSV with `bad_lines` spliced in at random places, via a temp file."""
    cuts: list[int] | np.ndarray = (
        np.sort(rng.choice(np.arange(1, table.num_rows), len(bad_lines), replace=False))
        if bad_lines
        else []
    )
    temporary = path.with_suffix(".csv.tmp")
    header = ",".join(table.schema.names) + "\n"
    options = pacsv.WriteOptions(include_header=False)
    with temporary.open("wb") as out:
        out.write(header.encode())
        start = 0
        for cut, line in zip([*cuts, table.num_rows], [*bad_lines, None], strict=True):
            piece = table.slice(start, int(cut) - start)
            for offset in range(0, piece.num_rows, 500_000):
                buffer = io.BytesIO()
                pacsv.write_csv(piece.slice(offset, 500_000), buffer, options)
                out.write(buffer.getvalue())
            if line is not None:
                out.write((line + "\n").encode())
            start = int(cut)
    temporary.replace(path)
