"""scikit-learn's k-NN accuracy for k = 1..20, the independent reference of our kNN curve.

Runs scikit-learn's brute-force ``KNeighborsClassifier`` on a dataset's official split and
prints a JSON record like ours. scikit-learn is not a dependency of the project: install
it in a separate environment to run this (``pip install scikit-learn``). Its vote gives
a tie to the smallest label, so compare with
``imagelab knn-study --dataset fashion-mnist --ties smallest``.

Usage:  python benchmarks/sklearn_knn_reference.py [--dataset fashion-mnist] [--data-dir data]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from imagelab.data.registry import DATASETS, load_dataset  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    from sklearn.neighbors import KNeighborsClassifier   # optional: see the docstring
    dataset = load_dataset(args.dataset, args.data_dir, download=False)
    start = time.perf_counter()
    classifier = KNeighborsClassifier(algorithm="brute").fit(dataset.data_train,
                                                             dataset.labels_train)
    accuracy = []
    for k in range(1, 21):
        classifier.set_params(n_neighbors=k)
        accuracy.append(float(np.mean(classifier.predict(dataset.data_test)
                                      == dataset.labels_test)))
    print(json.dumps({"dataset": args.dataset, "k": list(range(1, 21)), "accuracy": accuracy,
                      "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
