"""A real regression data set with raw, unscaled features, trained through /train with defaults,
against scikit-learn's MLPRegressor (defaults) in a StandardScaler pipeline, on the same splits.

The data: scikit-learn's bundled diabetes set, unscaled (ages, blood pressures, serum levels in
their own units; targets 25 to 346), so no download is needed.
"""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

SPLITS = range(5)


def test_defaults_on_raw_diabetes_data_match_or_beat_scikit_learn(client, wait_for):
    X, y = load_diabetes(return_X_y=True, scaled=False)
    ours, theirs = [], []
    for split in SPLITS:
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=split)
        response = client.post("/train", json={"data": {"X": X_train.tolist(), "Y": y_train.tolist()},
                                               "seed": split})
        body = wait_for(response.get_json()["id"])
        assert body["status"] == "succeeded", body
        predicted = client.post("/predict", json={"model_id": body["id"], "X": X_test.tolist()}).get_json()
        ours.append(r2_score(y_test, np.array(predicted["predictions"])[:, 0]))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipeline = make_pipeline(StandardScaler(), MLPRegressor(random_state=split, max_iter=2000))
            theirs.append(r2_score(y_test, pipeline.fit(X_train, y_train).predict(X_test)))
    print(f"held-out R^2 per split: nn {np.round(ours, 3)}, scikit-learn {np.round(theirs, 3)}")
    assert np.mean(ours) >= np.mean(theirs), (ours, theirs)
    assert min(ours) > 0.25  # a useful model on every split, not a diverged or constant one
