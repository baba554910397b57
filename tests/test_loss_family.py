"""The LossFamily protocol, checked for every family in the registry (a new family is tested
by being registered): vector round trip, exact start points, formula, finite loss, loss
files, conversion between families and plot panels."""

import json

import numpy as np
import pytest
import torch

from mirrorpo.losses import LOSSES, PreferenceBatch
from mirrorpo.losses.family import FAMILIES, Panel, get_family, load_loss, start_point_names


def random_batch(seed, scale=50.0, shift=0.0, b=128):
    g = torch.Generator().manual_seed(seed)
    x = -torch.rand(4, b, generator=g, dtype=torch.float64) * scale + shift
    lens = torch.randint(1, 200, (2, b), generator=g).to(torch.float64)
    return PreferenceBatch(x[0], x[1], x[2], x[3], lens[0], lens[1],
                           torch.rand(b, generator=g, dtype=torch.float64))


def random_vector(family, seed, scale=0.5):
    return np.random.default_rng(seed).normal(size=len(family.param_names)) * scale


families = pytest.mark.parametrize("family", list(FAMILIES.values()), ids=list(FAMILIES))


@families
def test_identity(family):
    assert get_family(family.name) is family
    assert isinstance(family.version, int) and family.version >= 1
    names = family.param_names
    assert len(names) > 0 and len(set(names)) == len(names)
    assert all(isinstance(n, str) for n in names)
    assert family.start_points and set(family.start_points) <= set(start_point_names())


@families
def test_vector_round_trip(family):
    for seed in range(5):
        v = random_vector(family, seed, scale=2.0)
        loss = family.loss(v)
        assert loss.family == family.name
        np.testing.assert_array_equal(loss.vector, v)
        np.testing.assert_array_equal(family.loss(list(v)).vector, v)
    with pytest.raises(ValueError):
        family.loss(np.zeros(len(family.param_names) + 1))


@families
@pytest.mark.parametrize(("scale", "shift"), [(1e4, 0.0), (50.0, 0.0), (1e-6, 0.0), (3.0, 5.0)])
def test_start_points_are_exact(family, scale, shift):
    """A start point named after a registered loss is that loss at its defaults."""
    batch = random_batch(1, scale, shift)
    for name, point in family.start_points.items():
        v = np.asarray(point(), dtype=np.float64)
        assert v.shape == (len(family.param_names),) and np.isfinite(v).all(), name
        registered = name.replace("-", "_")
        if registered in LOSSES:
            torch.testing.assert_close(family.loss(v)(batch), LOSSES[registered](batch),
                                       rtol=1e-6, atol=1e-6, msg=f"{family.name} at {name}")


@families
def test_formula_is_text(family):
    vectors = [point() for point in family.start_points.values()]
    vectors += [random_vector(family, seed) for seed in range(3)]
    for v in vectors:
        text = family.formula(v)
        assert isinstance(text, str) and text


@families
def test_loss_is_finite_with_finite_gradient(family):
    for seed in range(5):
        b = random_batch(seed)
        chosen = b.policy_chosen_logps.clone().requires_grad_(True)
        loss = family.loss(random_vector(family, seed))(b._replace(policy_chosen_logps=chosen))
        assert loss.shape == (128,) and torch.isfinite(loss).all()
        loss.sum().backward()
        assert torch.isfinite(chosen.grad).all()


@families
def test_loss_file_round_trip(family, tmp_path):
    v = random_vector(family, 7)
    family.loss(v).save(tmp_path / "loss.json")
    raw = json.loads((tmp_path / "loss.json").read_text())
    assert raw["family"] == family.name and raw["version"] == family.version
    for loaded in (load_loss(tmp_path / "loss.json"), family.load(tmp_path / "loss.json")):
        assert loaded.family == family.name
        np.testing.assert_array_equal(loaded.vector, v)
        np.testing.assert_array_equal(family.convert(loaded), v)


@pytest.mark.parametrize("target", list(FAMILIES.values()), ids=list(FAMILIES))
@pytest.mark.parametrize("source", list(FAMILIES.values()), ids=list(FAMILIES))
def test_conversion_keeps_the_loss(source, target):
    """Where ``target`` can express a member of ``source`` (ValueError otherwise), it is the
    same loss; every start point shared by both families converts."""
    batch = random_batch(3)
    members = [(name, source.loss(point())) for name, point in source.start_points.items()]
    members += [(f"random {s}", source.loss(random_vector(source, s))) for s in range(3)]
    for name, member in members:
        try:
            v = target.convert(member)
        except ValueError:
            assert name not in target.start_points, f"{source.name} → {target.name} at {name}"
            continue
        torch.testing.assert_close(target.loss(v)(batch), member(batch), rtol=1e-12, atol=0)


@families
def test_plot_panels_draw(family):
    from mirrorpo.plots import _plt

    plt = _plt()
    vectors = {name: point() for name, point in family.start_points.items()}
    panels = family.plot_panels(vectors)
    assert panels
    fig, axes = plt.subplots(1, len(panels), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        title, draw = Panel(*panel)
        assert isinstance(title, str) and title
        draw(ax)
        assert ax.lines
    plt.close(fig)


def test_registry_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown loss family 'nope'"):
        get_family("nope")
    (tmp_path / "x.json").write_text(json.dumps({"family": ["mpo"], "vector": []}))
    with pytest.raises(ValueError, match="x.json: unknown loss family"):
        load_loss(tmp_path / "x.json")
