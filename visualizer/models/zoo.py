"""The demo model zoo: small plain-torch models for scikit-learn's digits.

Every factory takes ``in_channels`` and ``num_classes`` and works on any image size of at
least 8x8 (adaptive pooling fixes the size before the classifier), so the same
architectures serve the 1x8x8 digits demo and a 3x32x32 benchmark.

Modules carry readable names (``conv1``, ``relu1``, ``layer1.0.conv1`` ...), every ReLU is
its own module and nothing is ``inplace``: activation extraction hooks each module's
output, and a shared or in-place module would record the wrong tensor.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from visualizer.errors import NotFoundError
from visualizer.models.evaluation import evaluate, seeded

ProgressFn = Callable[[int, int], None]


def build_mlp(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Build a two-hidden-layer perceptron.

    Parameters
    ----------
    in_channels
        Number of image channels.
    num_classes
        Number of output logits.

    Returns
    -------
    nn.Module
        ``pool`` (adaptive 8x8, so larger images work) -> ``flatten`` -> ``fc1`` ->
        ``relu1`` -> ``fc2`` -> ``relu2`` -> ``fc3``.
    """
    return nn.Sequential(
        _named(
            pool=nn.AdaptiveAvgPool2d((8, 8)),
            flatten=nn.Flatten(),
            fc1=nn.Linear(in_channels * 64, 128),
            relu1=nn.ReLU(inplace=False),
            fc2=nn.Linear(128, 64),
            relu2=nn.ReLU(inplace=False),
            fc3=nn.Linear(64, num_classes),
        )
    )


def build_cnn(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Build a small two-convolution network.

    Parameters
    ----------
    in_channels
        Number of image channels.
    num_classes
        Number of output logits.

    Returns
    -------
    nn.Module
        ``conv1`` -> ``relu1`` -> ``conv2`` -> ``relu2`` -> ``pool`` (2x2 max) ->
        ``adapt`` (adaptive 4x4 average) -> ``flatten`` -> ``fc1`` -> ``relu3`` -> ``fc2``.
    """
    return nn.Sequential(
        _named(
            conv1=nn.Conv2d(in_channels, 16, kernel_size=3, padding=1),
            relu1=nn.ReLU(inplace=False),
            conv2=nn.Conv2d(16, 32, kernel_size=3, padding=1),
            relu2=nn.ReLU(inplace=False),
            pool=nn.MaxPool2d(2),
            adapt=nn.AdaptiveAvgPool2d((4, 4)),
            flatten=nn.Flatten(),
            fc1=nn.Linear(32 * 4 * 4, 64),
            relu3=nn.ReLU(inplace=False),
            fc2=nn.Linear(64, num_classes),
        )
    )


class BasicBlock(nn.Module):
    """A ResNet basic block: two 3x3 convolutions plus a skip connection.

    Parameters
    ----------
    in_planes, planes
        Input and output channels.
    stride
        Stride of the first convolution; with ``stride != 1`` or a channel change the
        shortcut is a 1x1 projection (``downsample``), otherwise the identity.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        # A second ReLU module, not a reuse of relu1: hooks record one output per module.
        self.relu2 = nn.ReLU(inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # Out-of-place add, so the traced graph shows an `add` node with the skip input.
        out = out + identity
        return self.relu2(out)


class SmallResNet(nn.Module):
    """A small residual network: stem, three basic blocks, global pool, classifier.

    Parameters
    ----------
    in_channels
        Number of image channels.
    num_classes
        Number of output logits.
    width
        Channels of the stem and ``layer1``; ``layer2`` has twice as many.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU(inplace=False)
        self.layer1 = nn.Sequential(BasicBlock(width, width))
        self.layer2 = nn.Sequential(
            BasicBlock(width, 2 * width, stride=2), BasicBlock(2 * width, 2 * width)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def build_resnet(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Build the small residual network (:class:`SmallResNet`).

    Parameters
    ----------
    in_channels
        Number of image channels.
    num_classes
        Number of output logits.

    Returns
    -------
    nn.Module
        ``conv1``/``bn1``/``relu1`` stem, ``layer1.0`` (identity skip), ``layer2.0``
        (stride 2 with a 1x1 projection ``downsample``), ``layer2.1``, ``avgpool``, ``fc``.
    """
    return SmallResNet(in_channels, num_classes)


def _named(**modules: nn.Module) -> OrderedDict[str, nn.Module]:
    # nn.Sequential takes an OrderedDict for names; keyword order is preserved.
    return OrderedDict(modules)


@dataclass(frozen=True)
class ZooEntry:
    """One architecture of the demo zoo.

    Attributes
    ----------
    name
        Short id used on the command line (``--arch cnn``).
    factory
        ``factory(in_channels=1, num_classes=10) -> nn.Module``.
    title
        Human-readable name.
    description
        One sentence for tooltips and reports.
    epochs
        Default training epochs on digits.
    lr
        Adam learning rate.
    batch_size
        Mini-batch size.
    """

    name: str
    factory: Callable[..., nn.Module]
    title: str
    description: str
    epochs: int
    lr: float = 1e-3
    batch_size: int = 32


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        ZooEntry(
            "mlp",
            build_mlp,
            "MLP",
            "Two hidden fully connected layers (128, 64) with ReLU.",
            epochs=30,
            lr=2e-3,
        ),
        ZooEntry(
            "cnn",
            build_cnn,
            "CNN",
            "Two 3x3 convolutions (16, 32 channels), max pooling and two linear layers.",
            epochs=15,
            lr=2e-3,
        ),
        ZooEntry(
            "resnet",
            build_resnet,
            "Small ResNet",
            "A stem and three residual basic blocks (one stride-2 with a 1x1 projection).",
            epochs=10,
            lr=3e-3,
        ),
    )
}


def train_zoo_model(
    name: str,
    x_train: np.ndarray | Tensor,
    y_train: np.ndarray | Tensor,
    *,
    seed: int = 0,
    epochs: int | None = None,
    progress: ProgressFn | None = None,
    num_classes: int | None = None,
    threads: int | None = 1,
) -> nn.Module:
    """Train a zoo model with Adam, deterministically for a given seed.

    Parameters
    ----------
    name
        A key of :data:`ZOO`.
    x_train
        Images, ``N x C x H x W`` float32 (digits: ``N x 1 x 8 x 8`` in [0, 1]).
    y_train
        Integer class labels, shape ``N``.
    seed
        Seeds the weight initialisation and the shuffling order.
    epochs
        Number of passes over the data; defaults to the entry's ``epochs``.
    progress
        Called as ``progress(done_epochs, total_epochs)`` after each epoch.
    num_classes
        Number of output logits; defaults to ``max(y_train) + 1``.
    threads
        Intra-op threads used while training (restored afterwards); ``None`` keeps the
        current setting. One thread is the default: these models are so small that
        thread synchronisation dominates, and on a busy 2-core machine OpenMP's spinning
        made two threads 10-20x slower than one (measured: resnet 84 s vs 6.5 s). A fixed
        count also keeps the weights bit-identical across machines with different cores.

    Returns
    -------
    nn.Module
        The trained model in eval mode, on CPU.
    """
    if name not in ZOO:
        raise NotFoundError(
            f"unknown zoo model {name!r}", fix=f"use one of: {', '.join(sorted(ZOO))}."
        )
    entry = ZOO[name]
    total = entry.epochs if epochs is None else int(epochs)
    x = torch.as_tensor(np.asarray(x_train) if not isinstance(x_train, Tensor) else x_train)
    x = x.to(dtype=torch.float32, device="cpu")
    y = torch.as_tensor(np.asarray(y_train) if not isinstance(y_train, Tensor) else y_train)
    y = y.to(dtype=torch.long, device="cpu")
    if len(y) == 0:
        raise ValueError("train_zoo_model needs at least one training sample")
    if num_classes is None:
        num_classes = int(y.max().item()) + 1

    # Weight init draws from the CPU's global generator: seed it (only it, not CUDA's as
    # torch.manual_seed would) inside a forked state, so the caller's random stream is
    # left where it was. Shuffling uses a private generator, so concurrent code using
    # the global RNG cannot change the order of our batches after construction.
    with seeded(seed):
        model = entry.factory(in_channels=x.shape[1], num_classes=num_classes)
    gen = torch.Generator().manual_seed(seed)
    # torch's thread count is process-wide; restoring it is best effort if two
    # trainings overlap (that can cost speed, and bit-for-bit reproducibility of the
    # overlapping runs, never correctness).
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    # Callers may run us in a worker thread where grad mode is off (or inside
    # inference_mode); grad mode is thread-local, so set it here.
    try:
        with torch.enable_grad(), torch.inference_mode(False):
            model.train()
            _train_epochs(model, x, y, entry, gen, total, progress)
    finally:
        torch.set_num_threads(previous_threads)
    model.eval()
    return model


def _train_epochs(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    entry: ZooEntry,
    gen: torch.Generator,
    total: int,
    progress: ProgressFn | None,
) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=entry.lr)
    n = len(x)
    steps = total * max(1, -(-n // entry.batch_size))
    # Cosine decay to zero: the last steps are small, so the final weights (and
    # batch-norm statistics) do not depend on where the last noisy step happened to land.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(total):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, entry.batch_size):
            idx = order[start : start + entry.batch_size]
            if len(idx) < 2 and n > 1:
                continue  # BatchNorm cannot train on a batch of one
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
        if progress is not None:
            progress(epoch + 1, total)


def evaluate_accuracy(
    model: nn.Module, x: np.ndarray | Tensor, y: np.ndarray | Tensor, batch_size: int = 256
) -> float:
    """Fraction of samples whose arg-max logit equals the label.

    The accuracy of :func:`visualizer.models.evaluation.evaluate` (the one implementation).

    Parameters
    ----------
    model
        A classifier; it is evaluated in eval mode (its mode is restored afterwards).
    x
        Inputs, ``N x ...``.
    y
        Integer labels, shape ``N``.
    batch_size
        Samples per forward pass.

    Returns
    -------
    float
        Accuracy in [0, 1] (float64, exact: correct / N); 0.0 for an empty set.
    """
    return evaluate(model, x, y, batch_size)[0]
