"""A table shaped like the Telco customer churn export: the model case of a bring-your-own table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def telco(rows: int = 300, seed: int = 3) -> pd.DataFrame:
    """Rows shaped like the Telco customer churn CSV, including its blank TotalCharges for new customers."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    tenure[:5] = 0  # new customers: TotalCharges is " " in the real export
    monthly = np.round(rng.uniform(18, 118, rows), 2)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], rows)
    churn = rng.random(rows) < np.where(contract == "Month-to-month", 0.45, 0.1)
    total = [" " if t == 0 else f"{t * m:.2f}" for t, m in zip(tenure, monthly, strict=True)]
    return pd.DataFrame({
        "customerID": [f"{rng.integers(1000, 9999)}-{''.join(rng.choice(list('ABCDEFGHJK'), 5))}{i}"
                       for i in range(rows)],
        "gender": rng.choice(["Female", "Male"], rows),
        "SeniorCitizen": rng.integers(0, 2, rows),
        "Partner": rng.choice(["Yes", "No"], rows),
        "tenure": tenure,
        "Contract": contract,
        "PaymentMethod": rng.choice(["Electronic check", "Mailed check", "Credit card (automatic)"], rows),
        "MonthlyCharges": monthly,
        "TotalCharges": total,
        "Churn": np.where(churn, "Yes", "No"),
    })


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "telco.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path
