"""Shared fixtures: the digits split and the zoo models, trained once per session."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from visualizer.models.zoo import ZOO, evaluate_accuracy, train_zoo_model


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Trained:
    model: nn.Module
    seconds: float
    test_accuracy: float


@pytest.fixture(scope="session")
def digits() -> Digits:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, data.target, test_size=0.2, random_state=0, stratify=data.target
    )
    return Digits(x_tr, x_te, y_tr, y_te)


@pytest.fixture(scope="session")
def trained(digits: Digits) -> dict[str, Trained]:
    """Every zoo model trained with its default epochs and seed 0 (a few seconds each)."""
    out = {}
    for name in ZOO:
        start = time.perf_counter()
        model = train_zoo_model(name, digits.x_train, digits.y_train, seed=0)
        seconds = time.perf_counter() - start
        out[name] = Trained(model, seconds, evaluate_accuracy(model, digits.x_test, digits.y_test))
    return out


@pytest.fixture
def digits_batch(digits: Digits) -> torch.Tensor:
    return torch.from_numpy(digits.x_test[:16])
