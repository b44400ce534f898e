"""sparsity_path: warm-started proximal training along a grid of strengths, the demo's
breast-cancer experiment and its plot."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsefit import nn as sfnn
from sparsefit.penalties import L1, GroupL1


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(240, 12, generator=g)
    y = (X[:, 0] - X[:, 1] > 0).long()
    return X[:200], y[:200], X[200:], y[200:]


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 2))


def _adam(params):
    return torch.optim.Adam(params, lr=1e-2)


def test_path_is_warm_started_and_leaves_the_model_alone():
    X, y, Xv, yv = _data()
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    path = sfnn.sparsity_path(net, torch.nn.CrossEntropyLoss(), X, y, [3e-2, 1e-3],
                              validation=(Xv, yv), optimizer=_adam, epochs=4,
                              batch_size=50, keep_states=True)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    assert sfnn.attachments(net) == {}
    assert path.lambdas.tolist() == [1e-3, 3e-2]            # sorted increasing
    assert len(path.states) == 2
    # the second strength starts from the first's weights: the same as a path of the
    # second strength alone from those weights (shuffled with the seed of index 1)
    again = _net()
    again.load_state_dict(path.states[0])
    second = sfnn.sparsity_path(again, torch.nn.CrossEntropyLoss(), X, y, [3e-2],
                                validation=(Xv, yv), optimizer=_adam, epochs=4,
                                batch_size=50, seed=1, keep_states=True)
    for k, v in second.states[0].items():
        torch.testing.assert_close(v, path.states[1][k])
    assert second.sparsity[0] == path.sparsity[1]


def test_path_records_sparsity_score_objective_and_dead_units():
    X, y, Xv, yv = _data()
    lams = [1e-4, 3e-3, 3e-2, 1e-1]
    path = sfnn.sparsity_path(_net(), torch.nn.CrossEntropyLoss(), X, y, lams,
                              validation=(Xv, yv), optimizer=_adam, epochs=6, batch_size=50)
    assert np.all(np.diff(path.sparsity) >= 0) and path.sparsity[-1] > 0.8
    assert path.sparsity[0] < 0.5
    assert path.score[0] >= 0.85            # a nearly linear target: easy at small lambda
    assert path.dead_units[-1] >= path.dead_units[0]
    # the recorded objective is the training loss plus the penalty at that strength
    assert np.all(path.objective > 0)
    rows = path.rows()
    assert [r["lambda"] for r in rows] == lams and "accuracy" in rows[0]
    assert "zeros" in str(path).splitlines()[0]
    i = path.best(min_score=path.score[0] - 0.05)
    assert i is not None and path.score[i] >= path.score[0] - 0.05
    assert path.best(min_score=2.0) is None


def test_path_with_a_group_penalty_and_a_mask():
    X, y, Xv, yv = _data()
    path = sfnn.sparsity_path(_net(), torch.nn.CrossEntropyLoss(), X, y, [1e-3, 5e-2],
                              penalty=lambda lam: GroupL1(lam), mask=["0.weight"],
                              optimizer=_adam, epochs=5, batch_size=50)
    assert path.dead_units[-1] > 0          # whole units removed by the group lasso


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"lambdas": []}, ValueError, "lambdas must not be empty"),
    ({"lambdas": [1e-3, -1.0]}, ValueError, "lambdas must be finite and >= 0"),
    ({"lambdas": [float("nan")]}, ValueError, "lambdas must be finite"),
    ({"lambdas": "abc"}, TypeError, "lambdas must be a sequence"),
    ({"epochs": 0}, ValueError, "epochs must be a positive int"),
    ({"batch_size": 2.5}, ValueError, "batch_size must be a positive int"),
    ({"validation": (torch.zeros(3, 12), torch.zeros(2))}, ValueError, "validation"),
    ({"penalty": lambda lam: "l1"}, TypeError, "penalty must return a Penalty"),
])
def test_bad_input_names_the_argument(kwargs, exc, match):
    X, y, _, _ = _data()
    args = {"lambdas": [1e-3], **kwargs}
    with pytest.raises(exc, match=match):
        sfnn.sparsity_path(_net(), torch.nn.CrossEntropyLoss(), X, y, epochs=kwargs.get(
            "epochs", 1), **{k: v for k, v in args.items() if k != "epochs"})


def test_the_demo_experiment_and_its_plot():
    from sparsefit.experiments.sparsity_path import breast_cancer_path
    from sparsefit.plot import plot_sparsity_path

    path = breast_cancer_path([1e-4, 3e-3, 3e-2], epochs=8)
    assert np.all(np.diff(path.sparsity) > 0)
    assert path.score[0] >= 0.9 and path.sparsity[-1] >= 0.3
    fig = plot_sparsity_path(path.sparsity, path.score, path.lambdas, reference=0.95)
    ax = fig.axes[0]
    assert len(ax.texts) == 3
    assert ax.lines[0].get_xdata().tolist() == pytest.approx((100 * path.sparsity).tolist())


def test_an_l1_penalty_object_is_what_the_path_attaches():
    X, y, _, _ = _data()
    seen = []

    def pen(lam):
        seen.append(lam)
        return L1(lam)
    sfnn.sparsity_path(_net(), torch.nn.CrossEntropyLoss(), X, y, [2e-3, 1e-3], penalty=pen,
                       epochs=1, batch_size=100)
    assert seen == [1e-3, 2e-3]
