"""The demo project: a CSV file and an SQLite CRM in, SQL models for cleaning and features, checks, a fraud model."""

from __future__ import annotations

from pathlib import Path

WEIR_YAML = """\
# The Weir demo: card transactions -> clean tables -> features -> a fraud model.
name: fraud-demo
workspace: .weir

sources:
  customers:
    kind: sql
    url: sqlite:///data/crm.db
    table: customers
    description: Customer master data from the CRM's database (contains PII).
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
    - {rule: regex, column: currency, pattern: "[A-Z]{3}"}
    - {rule: relationships, column: customer_id, to: customers, field: customer_id}
    - {rule: range, column: amount, min: 0, max: 50000, severity: quarantine,
       description: amounts beyond any card limit are data-entry errors}
  clean_transactions:
    - {rule: unique, columns: [txn_id]}
    - {rule: not_null, columns: [amount, merchant_category, device]}
  transaction_features:
    - {rule: not_null, columns: [is_fraud, amount, hour]}
    - {rule: row_count, min: 500}
    - {rule: aggregate, expression: avg(is_fraud), min: 0.001, max: 0.2,
       description: the fraud rate stays plausible}

# Cleaning rules run in order on the raw table and make clean_<table>; every change is counted.
clean:
  transactions:
    description: One row per transaction, gaps filled, customer ids pseudonymised.
    owner: payments-data
    tags: [transactions]
    rules:
      - {rule: deduplicate, key: [txn_id], keep: first, order_by: ts}
      - {rule: fill_missing, columns: [amount], strategy: median}
      - {rule: fill_missing, columns: [merchant_category, device], strategy: constant, value: unknown}
  customers:
    description: Customers without name or e-mail; phone masked, birth date to the year.
    owner: crm-data
    tags: [customers, governed]
    rules:
      - {rule: deduplicate, key: [customer_id], keep: first, order_by: signup_date}
      - {rule: normalise_whitespace, columns: [country]}
      - {rule: case, columns: [country], to: upper}

# Governance: classes and policies per column, applied by the table's clean step. The same
# customer_id gets the same artificial ID in both tables, so joins still work.
governance:
  key: ${WEIR_PSEUDONYM_KEY:-demo-only-key-do-not-use-in-production}
  columns:
    customers.customer_id: {class: pii.id, action: pseudonymise}
    customers.name: {class: pii.name, action: drop}
    customers.email: {class: pii.email, action: drop}
    customers.phone: {class: pii.phone, action: mask, keep_last: 2}
    customers.birth_date: {class: pii.birth_date, action: truncate, to: year}
    transactions.customer_id: {class: pii.id, action: pseudonymise}

models:
  transaction_features:
    description: Per-transaction features for fraud scoring.
    owner: fraud-analytics
    tags: [features, fraud]
    column_descriptions:
      amount_ratio: amount over the customer's mean of the previous 50 transactions
      txn_count_24h: the customer's transactions in the 24 hours up to this one
      foreign_currency: 1 when the currency is not the customer's home currency

ml:
  fraud:
    description: Probability that a card transaction is fraudulent.
    table: transaction_features
    target: is_fraud
    task: classification
    features:
      numeric:
        amount: {clip: [0, null], log: true}
        amount_ratio: {impute: median, clip: [0, 50]}
        txn_count_24h: {}
        foreign_currency: {scale: none}
        account_age_days: {}
        age: {}
      categorical:
        channel: {}
        merchant_category: {min_frequency: 0.01, unknown: infrequent}
        device: {unknown: most_frequent}
        country: {}
      dates:
        ts: {parts: [hour, dayofweek, is_weekend]}
    algorithm: lightgbm
    params: {n_estimators: 200, subsample_freq: 1, n_jobs: 1}
    split: {method: time, column: ts, test_fraction: 0.25}
    cv: {folds: 3}
    tune:
      method: bayesian
      metric: pr_auc
      trials: 8
      space:
        learning_rate: {low: 0.02, high: 0.2, log: true}
        num_leaves: [7, 15, 31]
        min_child_samples: {low: 50, high: 400}
        subsample: {low: 0.6, high: 1.0}
    threshold: {metric: f1}
    seed: 42
    card:
      intended_use: Rank card transactions for manual fraud review; not for automatic blocking.
      limitations: >-
        Trained on one synthetic quarter-year; fraud patterns drift, so watch live precision.
        Age derives from a truncated birth date (PII reaches the model in part).
      owner: fraud-analytics

  expected_amount:
    description: log(1 + amount) a customer is expected to spend, from their history (regression).
    table: transaction_features
    target: log_amount
    task: regression
    features:
      numeric:
        avg_amount_before: {log: true}
        age: {}
      categorical: [merchant_category, channel, country]
      dates:
        ts: {parts: [hour, dayofweek]}
    algorithm: hist_gradient_boosting
    params: {max_iter: 100}
    split: {method: time, column: ts, test_fraction: 0.25}
    seed: 42
"""

CUSTOMER_PROFILE = """\
-- weir:
--   description: One row per customer with what features need (no direct identifiers).
--   owner: fraud-analytics
--   tags: [customers, features]
--   column_descriptions:
--     customer_id: pseudonym (HMAC of the CRM id)
--     birth_date: first day of the birth year
SELECT customer_id, country, birth_date, signup_date
FROM clean_customers
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
    w.avg_amount_before,
    ln(1 + w.amount) AS log_amount,
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
    "customer_profile.sql": CUSTOMER_PROFILE,
    "transaction_features.sql": TRANSACTION_FEATURES,
}


def write_demo_project(directory: Path) -> list[Path]:
    """Write weir.yaml and the SQL models; leaves data/ and the workspace alone.

    The demo owns its sql/ folder: model files it no longer ships are removed, so an older
    demo directory does not keep a model that now clashes with a cleaned table.
    """
    written = []
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (directory / "sql").glob("*.sql"):
        if stale.name not in SQL:
            stale.unlink()
    files = {"weir.yaml": WEIR_YAML, **{f"sql/{name}": text for name, text in SQL.items()}}
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
