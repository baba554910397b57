"""The MPO family: exact DPO/ORPO points, increasing mirror maps, finite gradients, JSON."""

import json
from functools import partial

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mirrorpo.losses import PreferenceBatch, get_loss
from mirrorpo.losses.mpo import (
    MPOLoss,
    MPOParams,
    apo_zero_point,
    coefficients,
    dpo_point,
    from_vector,
    in_family,
    link,
    load_mpo,
    mirror_map,
    mpo_loss,
    mpo_loss_stacked,
    orpo_point,
    param_names,
    param_names_v1,
    schedule,
    sppo_hard_point,
    stack_coefficients,
    to_vector,
)


def random_batch(seed, scale, shift=0.0, b=256, lengths=None):
    g = torch.Generator().manual_seed(seed)
    x = -torch.rand(4, b, generator=g, dtype=torch.float64) * scale + shift
    lens = (torch.randint(1, 200, (2, b), generator=g).to(torch.float64) if lengths is None
            else torch.full((2, b), float(lengths), dtype=torch.float64))
    return PreferenceBatch(x[0], x[1], x[2], x[3], lens[0], lens[1],
                           torch.rand(b, generator=g, dtype=torch.float64))


# very negative, moderate, near zero, and positive log-densities
REGIMES = [(1e4, 0.0), (50.0, 0.0), (1e-6, 0.0), (3.0, 5.0)]


@pytest.mark.parametrize(("scale", "shift"), REGIMES)
@pytest.mark.parametrize("beta", [0.05, 0.1, 1.0])
def test_dpo_point_reproduces_dpo(scale, shift, beta):
    b = random_batch(1, scale, shift)
    for family in ("mpo", "ta-mpo"):
        p = from_vector(to_vector(dpo_point(beta), family), family)
        torch.testing.assert_close(mpo_loss(b, p), get_loss("dpo")(b, beta=beta),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("scale", "shift"), REGIMES)
@pytest.mark.parametrize("lam", [0.1, 0.5])
def test_orpo_point_reproduces_orpo(scale, shift, lam):
    b = random_batch(2, scale, shift)
    for family in ("mpo", "ta-mpo"):
        p = from_vector(to_vector(orpo_point(lam), family), family)
        want = get_loss("orpo")(b, beta=lam)
        assert torch.isfinite(want).all()
        torch.testing.assert_close(mpo_loss(b, p), want, rtol=1e-6, atol=1e-6)


vectors = st.lists(st.floats(-3, 3, allow_nan=False), min_size=len(param_names("ta-mpo")),
                   max_size=len(param_names("ta-mpo")))


@settings(max_examples=300, deadline=None)
@given(vectors, st.floats(-30, 2), st.floats(-30, 2))
def test_mirror_map_is_increasing_for_every_parameter_vector(vec, u1, u2):
    assume(u2 - u1 > 1e-3)
    p = from_vector(vec, "ta-mpo")
    f = mirror_map(p, torch.tensor([u1, u2], dtype=torch.float64))
    assert f[1] > f[0]


@settings(max_examples=100, deadline=None)
@given(vectors, st.integers(0, 2**16))
def test_gradients_finite_wherever_loss_is(vec, seed):
    p = from_vector(vec, "ta-mpo")
    b = random_batch(seed, 20.0, b=16)
    logps = torch.stack(b[:4]).clone().requires_grad_(True)
    b = PreferenceBatch(*logps, *b[4:])
    loss = mpo_loss(b, p)
    finite = torch.isfinite(loss)
    loss[finite].sum().backward()
    cols = finite.nonzero().flatten()
    assert torch.isfinite(logps.grad[:, cols]).all()


def test_vector_round_trip_and_mpo_ties_schedules():
    rng = np.random.default_rng(0)
    for family in ("mpo", "ta-mpo"):
        v = rng.normal(size=len(param_names(family)))
        np.testing.assert_array_equal(to_vector(from_vector(v, family), family), v)
    p = from_vector(to_vector(MPOParams(alpha0=0.3), "mpo"), "mpo")
    assert (p.alpha0, p.alpha_half, p.alpha1, p.rho0, p.rho1) == (0.3, 0.3, 0.3, 1.0, 1.0)
    with pytest.raises(ValueError, match="expects"):
        from_vector([0.0] * 3, "mpo")


def test_ta_mpo_moves_from_imitation_to_preference():
    p = MPOParams(alpha0=1.0, alpha_half=0.5, alpha1=0.0, rho0=0.0, rho_half=0.5, rho1=1.0)
    tau = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(schedule((p.alpha0, p.alpha_half, p.alpha1), tau),
                               torch.tensor([1.0, 0.75, 0.5, 0.0], dtype=torch.float64))
    b = random_batch(3, 50.0, b=4)
    start = mpo_loss(b._replace(progress=torch.zeros(4, dtype=torch.float64)), p)
    torch.testing.assert_close(start, -b.policy_chosen_logps)  # pure imitation at τ = 0
    end = mpo_loss(b._replace(progress=torch.ones(4, dtype=torch.float64)), p)
    torch.testing.assert_close(end, get_loss("dpo")(b))  # pure DPO at τ = 1


def test_json_round_trip_and_formula(tmp_path):
    loss = MPOLoss("ta-mpo", MPOParams(w_exp=0.5, log_q=0.1, alpha0=0.2, lam_hinge=0.3))
    loss.save(tmp_path / "l.json")
    back = load_mpo(tmp_path / "l.json")
    assert back == loss
    raw = json.loads((tmp_path / "l.json").read_text())
    assert raw["family"] == "ta-mpo" and raw["version"] == 2
    assert "exp(" in raw["formula"] and "max(0, 1−z)" in raw["formula"]
    assert "logσ(z)" in MPOLoss("mpo", dpo_point()).to_json()["formula"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"family": "xpo", "version": 1, "vector": []}, "unknown loss family 'xpo'"),
        ({"family": "mpo", "version": 9, "vector": []}, "version 9 is not supported"),
        ({"family": "mpo", "version": 1, "vector": [1.0]}, "'vector' must be"),
        ({"family": "mpo", "version": 1, "names": ["a"], "vector": [1.0]}, "names do not match"),
    ],
)
def test_bad_loss_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message) as err:
        load_mpo(path)
    assert "bad.json" in str(err.value)
    path.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_mpo(path)


def test_exp_link_is_finite_continuous_and_decreasing():
    from mirrorpo.losses.mpo import EXP_LINK_KNEE, exp_link

    x = torch.tensor([-1e6, -1e3, -EXP_LINK_KNEE - 1e-6, -EXP_LINK_KNEE, 0.0, 5.0],
                     dtype=torch.float32, requires_grad=True)
    y = exp_link(x)
    assert torch.isfinite(y).all()
    assert (y[1:] < y[:-1]).all()  # decreasing
    torch.testing.assert_close(y[2], y[3], rtol=1e-5, atol=0)  # continuous at the knee
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad < 0).all()
    torch.testing.assert_close(exp_link(torch.tensor([0.5]))[0], torch.exp(torch.tensor(-0.5)))


@pytest.mark.parametrize(("scale", "shift"), REGIMES)
@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
def test_anchor_points_reproduce_apo_zero_and_sppo_hard(scale, shift, beta):
    b = random_batch(4, scale, shift)
    for family in ("mpo", "ta-mpo"):
        apo = from_vector(to_vector(apo_zero_point(beta), family), family)
        torch.testing.assert_close(mpo_loss(b, apo), get_loss("apo_zero")(b, beta=beta),
                                   rtol=1e-6, atol=1e-6)
        sppo = from_vector(to_vector(sppo_hard_point(beta), family), family)
        torch.testing.assert_close(mpo_loss(b, sppo), get_loss("sppo_hard")(b, beta=beta),
                                   rtol=1e-6, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(vectors, st.floats(-40, 40), st.floats(-40, 40))
def test_link_is_increasing_for_every_parameter_vector(vec, z1, z2):
    assume(z2 - z1 > 1e-3)
    p = from_vector(vec, "ta-mpo")
    assume(max(p.lam_logsigmoid, p.lam_exp, p.lam_hinge, p.lam_sigmoid) > 0.01)
    g = link(p, torch.tensor([z1, z2], dtype=torch.float64))
    assert g[1] >= g[0]


def test_anchors_push_the_chosen_up_and_the_rejected_down():
    """d loss / d ℓ_w < 0 and d loss / d ℓ_l > 0 for a pure-anchor loss below the anchors' ½."""
    for kind in ("anchor_logsigmoid", "anchor_sigmoid", "anchor_square"):
        p = MPOParams(lam_logsigmoid=0.0, **{kind: 1.0})
        b = random_batch(5, 2.0, b=8)
        logps = torch.stack(b[:4]).clone().requires_grad_(True)
        mpo_loss(PreferenceBatch(*logps, *b[4:]), p).sum().backward()
        # the scaled implicit rewards β|Δ| ≤ 0.1·2 < ½ here
        assert (logps.grad[0] < 0).all() and (logps.grad[1] > 0).all(), kind


def test_version_1_files_load_as_the_same_loss(tmp_path):
    rng = np.random.default_rng(1)
    b = random_batch(6, 50.0)
    for family in ("mpo", "ta-mpo"):
        names = param_names_v1(family)
        v1 = rng.normal(size=len(names)) * 0.3
        path = tmp_path / f"{family}.json"
        path.write_text(json.dumps({"family": family, "version": 1, "names": list(names),
                                    "vector": v1.tolist()}))
        loss = load_mpo(path)
        assert loss.to_json()["version"] == 2
        values = dict(zip(names, v1, strict=True))
        assert all(getattr(loss.params, n) == values[n] for n in names)
        assert (loss.params.lam_sigmoid, loss.params.anchor_square) == (0.0, 0.0)
        assert torch.isfinite(loss(b)).all()
    with pytest.raises(ValueError, match="names do not match mpo v1"):
        path.write_text(json.dumps({"family": "mpo", "version": 1,
                                    "names": list(param_names("mpo")),
                                    "vector": [0.0] * len(param_names("mpo"))}))
        load_mpo(path)


def test_formula_names_the_anchor_terms():
    text = MPOLoss("mpo", MPOParams(anchor_sigmoid=0.5, anchor_square=0.1,
                                    lam_sigmoid=0.2)).to_json()["formula"]
    assert "A(βΔ_w) + A(−βΔ_l)" in text and "(1−σ(x))" in text and "(x−½)²/β²" in text
    assert "σ(z)" in text and "Δ = f(u) − f(u_ref)" in text
    assert "A(" not in MPOLoss("mpo", dpo_point()).to_json()["formula"]


@pytest.mark.parametrize("family", ["mpo", "ta-mpo"])
@pytest.mark.parametrize(("start", "registry"), [("dpo", "dpo"), ("apo-zero", "apo_zero"),
                                                 ("sppo-hard", "sppo_hard")])
def test_search_start_points_are_the_named_losses_at_default_beta(family, start, registry):
    from mirrorpo.discovery.run import SearchConfig

    x0 = SearchConfig(family=family, start=start).x0()
    b = random_batch(5, 3.0, -1.0)
    torch.testing.assert_close(mpo_loss(b, from_vector(x0, family)),
                               get_loss(registry)(b, beta=0.1), rtol=1e-6, atol=1e-6)


def test_in_family_keeps_the_loss_and_refuses_a_real_schedule():
    rng = np.random.default_rng(4)
    mpo = MPOLoss("mpo", from_vector(rng.normal(size=len(param_names("mpo"))), "mpo"))
    ta = in_family(mpo, "ta-mpo")
    assert ta.family == "ta-mpo" and len(ta.vector) == len(param_names("ta-mpo"))
    b = random_batch(6, 50.0)
    for tau in (0.0, 0.3, 1.0):
        bt = b._replace(progress=torch.full_like(b.chosen_lengths, tau))
        torch.testing.assert_close(ta(bt), mpo(bt))
    np.testing.assert_array_equal(in_family(ta, "mpo").vector, mpo.vector)
    scheduled = MPOLoss("ta-mpo", MPOParams(alpha0=1.0, alpha_half=0.5, alpha1=0.0))
    with pytest.raises(ValueError, match="not an MPO loss"):
        in_family(scheduled, "mpo")


@settings(max_examples=60, deadline=None)
@given(st.lists(vectors, min_size=2, max_size=6), st.integers(0, 2**16),
       st.sampled_from([torch.float32, torch.float64]))
def test_stacked_losses_equal_each_member_called_alone(vecs, seed, dtype):
    """mpo_loss_stacked on P losses (members with different terms switched on) agrees with P
    separate mpo_loss calls, in value and in the gradient w.r.t. the policy log-likelihoods:
    float64 to 1e-12 (kernels round differently), float32 to its rounding."""
    params = [from_vector(v, "ta-mpo") for v in vecs]
    g = torch.Generator().manual_seed(seed)
    p, b = len(params), 8
    logps = -torch.rand(4, p, b, generator=g, dtype=dtype) * 60 - 1e-3
    lens = torch.randint(1, 300, (2, p, b), generator=g).to(dtype)
    tau = torch.rand((), generator=g, dtype=dtype)

    def loss_and_grad(fn, rows):
        x = logps[:2, rows].clone().requires_grad_(True)
        out = fn(PreferenceBatch(x[0], x[1], logps[2, rows], logps[3, rows], lens[0, rows],
                                 lens[1, rows], tau))
        (grad,) = torch.autograd.grad(out.sum(), x)
        return out.detach(), grad

    stacked = loss_and_grad(partial(mpo_loss_stacked, stack=stack_coefficients(params, dtype)),
                            slice(None))
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    for i, prm in enumerate(params):
        alone = loss_and_grad(partial(mpo_loss, p=prm), slice(i, i + 1))
        assume(torch.isfinite(alone[0]).all() and torch.isfinite(alone[1]).all())
        torch.testing.assert_close(stacked[0][i], alone[0][0], rtol=tol, atol=tol * 1e-3)
        torch.testing.assert_close(stacked[1][:, i], alone[1][:, 0], rtol=tol, atol=tol * 1e-3)


def test_one_loss_uses_only_its_terms_and_a_stack_their_union():
    a = MPOParams(w_logodds=0.3, lam_exp=0.2)
    b = MPOParams(length_power=0.5, anchor_sigmoid=1.0)
    assert coefficients(a).on == {"r", "w_logodds", "lam_exp"}
    stack = stack_coefficients([a, b], torch.float32)
    assert stack.on == {"r", "w_logodds", "lam_exp", "s", "anchor_sigmoid"}
    assert stack.w_logodds.shape == (2, 1) and stack.w_logodds[1, 0] == 0
    assert stack.rho[0].dtype == torch.float64
