import pytest
import torch
from scipy import stats

from textmix.sampling import draw_lambdas, draw_partners, sample_beta


@pytest.mark.parametrize("alpha", [0.1, 0.4, 1.0, 2.0, 8.0])
def test_beta_draws_follow_scipy_beta(alpha):
    g = torch.Generator().manual_seed(int(alpha * 100))
    x = sample_beta(alpha, 20000, g, torch.device("cpu"), dtype=torch.float64).numpy()
    assert ((x >= 0) & (x <= 1)).all()
    assert stats.kstest(x, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_draws_advance_the_generator_by_a_fixed_amount():
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    sample_beta(0.3, 5, g1, torch.device("cpu"))
    sample_beta(0.3, 5, g2, torch.device("cpu"))
    assert torch.equal(g1.get_state(), g2.get_state())


def test_lambda_modes():
    g = torch.Generator().manual_seed(0)
    batch = draw_lambdas(0.4, 6, False, False, g, torch.device("cpu"))
    assert (batch == batch[0]).all()
    rows = draw_lambdas(0.4, 200, True, True, g, torch.device("cpu"))
    assert rows.unique().numel() > 100 and (rows >= 0.5).all()


def test_partners_are_a_permutation_of_the_valid_rows():
    g = torch.Generator().manual_seed(0)
    valid = torch.tensor([True, False, True, True, False, True, True])
    seen = set()
    for _ in range(200):
        perm = draw_partners(valid, "permute", g)
        assert perm[1] == 1 and perm[4] == 4
        assert sorted(perm[valid].tolist()) == [0, 2, 3, 5, 6]
        seen.add(tuple(perm.tolist()))
    assert len(seen) > 60  # 5! = 120 orders
    assert draw_partners(valid, "flip", g).tolist() == [6, 1, 5, 3, 4, 2, 0]
