"""The Python recipes for bench/churn.py: the labelled table read with pandas, text columns
one-hot encoded, 5 stratified folds; scikit-learn's LogisticRegression (impute, scale) and
HistGradientBoostingClassifier, and XGBoost's own Python package (python3-xgboost, the same
library retain calls through its C API) with retain's parameters and early stopping (the last
20% of each fold's shuffled training rows validate; boosting stops 50 rounds after the
validation log-loss last improved; the best trees predict), each timed over the folds
(fit + predict), AUC per fold.

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

try:
    import xgboost as xgb
except ImportError:  # the Debian package python3-xgboost
    xgb = None

# retain's booster parameters (src/churn/classify.c)
XGB_PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "eta": 0.05,
              "max_depth": 3, "min_child_weight": 5, "subsample": 0.8, "colsample_bytree": 0.8,
              "lambda": 1, "nthread": 2, "seed": 7, "verbosity": 0, "tree_method": "hist"}


class EarlyStoppedXGB:
    """xgboost.train with a validation tail and early stopping, as retain trains its booster."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def fit(self, X, y):
        rows = self.rng.permutation(len(y))
        nval = len(rows) // 5
        tr, va = rows[:len(rows) - nval], rows[len(rows) - nval:]
        y = np.asarray(y)
        dtr, dva = xgb.DMatrix(X[tr], label=y[tr]), xgb.DMatrix(X[va], label=y[va])
        self.b = xgb.train(XGB_PARAMS, dtr, num_boost_round=2000, evals=[(dva, "val")],
                           early_stopping_rounds=50, verbose_eval=False)
        return self

    def predict_proba(self, X):
        p = self.b.predict(xgb.DMatrix(X), iteration_range=(0, self.b.best_iteration + 1))
        return np.column_stack([1 - p, p])


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
    if xgb is not None:
        models["xgboost_python"] = lambda: EarlyStoppedXGB(seed)
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
