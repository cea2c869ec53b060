"""The demo project: files in, SQL models for cleaning and features, checks, a fraud model."""

from __future__ import annotations

from pathlib import Path

WEIR_YAML = """\
# The Weir demo: card transactions -> clean tables -> features -> a fraud model.
name: fraud-demo
workspace: .weir

sources:
  customers:
    format: csv
    path: data/customers.csv
    description: Customer master data exported from the CRM (contains PII).
    columns:
      customer_id: int64
      name: string
      email: string
      phone: string
      birth_date: date
      country: string
      signup_date: date
  transactions:
    format: csv
    path: data/transactions.csv
    description: Card transactions from the payment processor, with chargeback labels.
    columns:
      txn_id: int64
      customer_id: int64
      ts: timestamp
      amount: float64
      currency: string
      merchant_category: string
      channel: string
      device: string
      is_fraud: int64

checks:
  transactions:
    - {rule: not_null, columns: [txn_id, customer_id, ts, is_fraud]}
    - {rule: unique, columns: [txn_id], severity: warn, description: the export re-sends rows}
    - {rule: accepted_values, column: channel, values: [pos, contactless, online, atm]}
    - {rule: range, column: amount, min: 0, max: 50000, severity: warn}
  clean_transactions:
    - {rule: unique, columns: [txn_id]}
  transaction_features:
    - {rule: not_null, columns: [is_fraud, amount, hour]}
    - {rule: row_count, min: 500}

models:
  clean_transactions:
    description: One row per transaction (re-sent duplicates removed).
  customer_profile:
    description: One row per customer, without direct identifiers.
  transaction_features:
    description: Per-transaction features for fraud scoring.

ml:
  fraud:
    description: Probability that a card transaction is fraudulent.
    table: transaction_features
    target: is_fraud
    task: classification
    features:
      numeric: [amount, amount_ratio, hour, age, txn_count_24h, foreign_currency, account_age_days]
      categorical: [channel, merchant_category, device, country]
    algorithm: hist_gradient_boosting
    params: {max_iter: 200, learning_rate: 0.05, max_depth: 4, min_samples_leaf: 200}
    split: {method: stratified, test_fraction: 0.25}
    seed: 42
"""

CLEAN_TRANSACTIONS = """\
-- The processor re-sends some rows: keep the first copy of each transaction.
SELECT *
FROM transactions
QUALIFY row_number() OVER (PARTITION BY txn_id ORDER BY ts) = 1
"""

CUSTOMER_PROFILE = """\
-- Customers without name, e-mail or phone: features need country and age, not identity.
SELECT
    customer_id,
    upper(trim(country)) AS country,
    birth_date,
    signup_date
FROM customers
QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY signup_date) = 1
"""

TRANSACTION_FEATURES = """\
WITH home_currency AS (
    SELECT * FROM (VALUES ('GB', 'GBP'), ('US', 'USD'), ('SE', 'SEK'), ('PL', 'PLN')) AS h(country, currency)
),
with_history AS (
    SELECT
        t.*,
        count(*) OVER (
            PARTITION BY t.customer_id ORDER BY t.ts
            RANGE BETWEEN INTERVAL 24 HOURS PRECEDING AND CURRENT ROW
        ) AS txn_count_24h,
        avg(t.amount) OVER (
            PARTITION BY t.customer_id ORDER BY t.ts, t.txn_id
            ROWS BETWEEN 50 PRECEDING AND 1 PRECEDING
        ) AS avg_amount_before
    FROM clean_transactions AS t
    WHERE t.amount IS NOT NULL
)
SELECT
    w.txn_id,
    w.ts,
    w.customer_id,
    w.amount,
    w.amount / nullif(w.avg_amount_before, 0) AS amount_ratio,
    hour(w.ts) AS hour,
    w.txn_count_24h,
    w.channel,
    coalesce(w.merchant_category, 'unknown') AS merchant_category,
    w.device,
    p.country,
    date_diff('year', p.birth_date, w.ts::DATE) AS age,
    date_diff('day', p.signup_date, w.ts::DATE) AS account_age_days,
    CASE WHEN w.currency <> coalesce(h.currency, 'EUR') THEN 1 ELSE 0 END AS foreign_currency,
    w.is_fraud
FROM with_history AS w
JOIN customer_profile AS p USING (customer_id)
LEFT JOIN home_currency AS h ON h.country = p.country
"""

SQL = {
    "clean_transactions.sql": CLEAN_TRANSACTIONS,
    "customer_profile.sql": CUSTOMER_PROFILE,
    "transaction_features.sql": TRANSACTION_FEATURES,
}


def write_demo_project(directory: Path) -> list[Path]:
    """Write weir.yaml and the SQL models; leaves data/ and the workspace alone."""
    written = []
    directory.mkdir(parents=True, exist_ok=True)
    files = {"weir.yaml": WEIR_YAML, **{f"sql/{name}": text for name, text in SQL.items()}}
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
