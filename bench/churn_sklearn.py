"""The scikit-learn recipe for bench/churn.py: the labelled table read with pandas, text columns
one-hot encoded, 5 stratified folds; LogisticRegression (impute, scale) and
HistGradientBoostingClassifier, each timed over the folds (fit + predict), AUC per fold.

Usage: python3 churn_sklearn.py table.csv id_col label_col seed  (prints JSON)"""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main():
    path, id_col, label, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    y = df[label].astype(str).str.strip().str.lower().isin(["yes", "1", "true"]).astype(int)
    X = df.drop(columns=[id_col, label])
    for c in X.columns:  # numbers written as text (blanks) become numbers
        if X[c].dtype == object:
            num = pd.to_numeric(X[c].str.strip().replace("", np.nan), errors="coerce")
            if num.notna().sum() == X[c].str.strip().replace("", np.nan).notna().sum():
                X[c] = num
    X = pd.get_dummies(X, dtype=float).to_numpy(dtype=float)
    read = time.perf_counter() - t0
    out = {"read_seconds": read, "models": []}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    models = {
        "logistic": lambda: make_pipeline(SimpleImputer(), StandardScaler(),
                                          LogisticRegression(max_iter=1000)),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
    }
    for name, make in models.items():
        aucs, t0 = [], time.perf_counter()
        for tr, te in folds.split(X, y):
            m = make().fit(X[tr], y.iloc[tr])
            aucs.append(roc_auc_score(y.iloc[te], m.predict_proba(X[te])[:, 1]))
        out["models"].append({"model": name, "auc": aucs, "mean_auc": float(np.mean(aucs)),
                              "seconds": time.perf_counter() - t0})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
