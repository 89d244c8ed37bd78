"""Eq. 7-9 against a naive per-token float64 reference written independently of the einsum code."""
import torch

from infini.attention import MEMORY_EPS, cap_to, deltanet_update, memory_read, memory_update, sigma, unit


def elu_plus_one(x):
    return torch.where(x > 0, x + 1.0, torch.exp(x))


def naive_read(q, M, z):  # q (T, d) raw, M (d, e), z (d,)
    out = torch.zeros(q.shape[0], M.shape[1], dtype=torch.float64)
    for t in range(q.shape[0]):
        sq = elu_plus_one(q[t])
        out[t] = (sq @ M) / (sq @ z + MEMORY_EPS)
    return out


def naive_update(k, v, M, z, rule):  # k, v (T, d); all of the segment uses M_{s-1}
    M_new, z_new = M.clone(), z.clone()
    for t in range(k.shape[0]):
        sk = elu_plus_one(k[t])
        value = v[t]
        if rule == "delta":
            value = value - (sk @ M) / (sk @ z + MEMORY_EPS)
        M_new += torch.outer(sk, value)
        z_new += sk
    return M_new, z_new


def random_case(B=2, G=3, R=3, T=7, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, G, R, T, d, generator=g, dtype=torch.float64)
    k = torch.randn(B, G, T, d, generator=g, dtype=torch.float64)
    v = torch.randn(B, G, T, d, generator=g, dtype=torch.float64)
    M = torch.randn(B, G, d, d, generator=g, dtype=torch.float64)
    z = torch.rand(B, G, d, generator=g, dtype=torch.float64) + 0.5
    return q, k, v, M, z


def test_read_and_updates_match_naive_reference():
    q, k, v, M, z = random_case()
    read = memory_read(sigma(q), M, z)
    for rule in ("linear", "delta"):
        M_new, z_new = memory_update(sigma(k), v, M, z, rule)
        for b in range(q.shape[0]):
            for g in range(q.shape[1]):
                ref_M, ref_z = naive_update(k[b, g], v[b, g], M[b, g], z[b, g], rule)
                torch.testing.assert_close(M_new[b, g], ref_M, rtol=1e-10, atol=1e-10)
                torch.testing.assert_close(z_new[b, g], ref_z, rtol=1e-10, atol=1e-10)
                for r in range(q.shape[2]):
                    torch.testing.assert_close(read[b, g, r], naive_read(q[b, g, r], M[b, g], z[b, g]))


def test_delta_rule_does_not_grow_on_repeated_writes_linear_doubles():
    _, k, v, _, _ = random_case(T=1)
    zero_M = torch.zeros(2, 3, 5, 5, dtype=torch.float64)
    zero_z = torch.zeros(2, 3, 5, dtype=torch.float64)
    once_M, once_z = memory_update(sigma(k), v, zero_M, zero_z, "delta")
    twice_M, _ = memory_update(sigma(k), v, once_M, once_z, "delta")
    # Equal up to the epsilon in Eq. 9's division (relative 1e-6 of what a second linear write adds).
    torch.testing.assert_close(twice_M, once_M, rtol=0, atol=1e-5 * once_M.abs().max().item())
    lin_once_M, lin_once_z = memory_update(sigma(k), v, zero_M, zero_z, "linear")
    lin_twice_M, _ = memory_update(sigma(k), v, lin_once_M, lin_once_z, "linear")
    torch.testing.assert_close(lin_twice_M, 2 * lin_once_M)
    assert lin_once_M.abs().sum() > 0


def test_empty_memory_reads_zero():
    q, _, _, M, z = random_case()
    out = memory_read(sigma(q), torch.zeros_like(M), torch.zeros_like(z))
    assert torch.count_nonzero(out) == 0


def naive_deltanet(k, v, beta, M):  # k, v (T, d), beta (T,): one token at a time, unit-length keys
    M = M.clone()
    for t in range(k.shape[0]):
        key = k[t] / k[t].norm()
        M += beta[t] * torch.outer(key, v[t] - key @ M)
    return M


def test_deltanet_variant_closed_form_matches_token_by_token_loop():
    _, k, v, M, _ = random_case(T=9)
    beta = torch.rand(k.shape[:3], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    M_new = deltanet_update(unit(k), v, beta, M)
    for b in range(k.shape[0]):
        for g in range(k.shape[1]):
            torch.testing.assert_close(M_new[b, g], naive_deltanet(k[b, g], v[b, g], beta[b, g], M[b, g]))


def naive_gated_deltanet(k, v, beta, alpha, M):  # Gated DeltaNet one token at a time: decay, then the delta write
    M = M.clone()
    for t in range(k.shape[0]):
        key = k[t] / k[t].norm()
        M = alpha[t] * M
        M += beta[t] * torch.outer(key, v[t] - key @ M)
    return M


def test_decay_gate_closed_form_matches_token_by_token_loop():
    _, k, v, M, _ = random_case(T=11)
    g = torch.Generator().manual_seed(3)
    beta = torch.rand(k.shape[:3], generator=g, dtype=torch.float64)
    alpha = 0.3 + 0.7 * torch.rand(k.shape[:3], generator=g, dtype=torch.float64)  # decays from 0.3 to 1
    M_new = deltanet_update(unit(k), v, beta, M, alpha.log())
    for b in range(k.shape[0]):
        for h in range(k.shape[1]):
            torch.testing.assert_close(M_new[b, h], naive_gated_deltanet(k[b, h], v[b, h], beta[b, h], alpha[b, h], M[b, h]))
    # No decay (log alpha = 0) is DeltaNet; decay alone (beta = 0) scales the memory by the product of the alphas.
    torch.testing.assert_close(deltanet_update(unit(k), v, beta, M, torch.zeros_like(beta)), deltanet_update(unit(k), v, beta, M))
    torch.testing.assert_close(deltanet_update(unit(k), v, torch.zeros_like(beta), M, alpha.log()),
                               M * alpha.prod(dim=-1)[..., None, None])


def test_deltanet_variant_keeps_a_needle_under_repeated_filler():
    # A needle, then the same filler segment 50 times. Variant: filler writes never touch what M returns
    # for directions orthogonal to the filler keys, and once the filler is stored a pass writes nothing.
    # Paper's rule (Eq. 9 with z): the denominator keeps growing, so the needle's read drifts with length.
    g = torch.Generator().manual_seed(2)
    d, F_ = 64, 6  # the head dim of SmolLM2
    f64 = dict(dtype=torch.float64)
    needle_k, needle_v = torch.randn(1, 1, 1, d, generator=g, **f64), torch.randn(1, 1, 1, d, generator=g, **f64)
    filler_k, filler_v = torch.randn(1, 1, F_, d, generator=g, **f64), torch.randn(1, 1, F_, d, generator=g, **f64)
    ones = torch.ones(1, 1, F_, **f64)
    M = deltanet_update(unit(needle_k), needle_v, torch.ones(1, 1, 1, **f64), torch.zeros(1, 1, d, d, **f64))
    basis = torch.linalg.qr(filler_k[0, 0].T).Q  # (d, F_) spans the filler keys
    off_filler = needle_k[0, 0, 0] - basis @ (basis.T @ needle_k[0, 0, 0])
    before = off_filler @ M[0, 0]
    for _ in range(50):
        previous, M = M, deltanet_update(unit(filler_k), filler_v, ones, M)
    torch.testing.assert_close(off_filler @ M[0, 0], before)
    torch.testing.assert_close(M, previous, rtol=0, atol=1e-6)
    torch.testing.assert_close(unit(filler_k) @ M, filler_v)  # the filler is stored exactly

    sk_n, sk_f = sigma(needle_k), sigma(filler_k)
    Mp, zp = memory_update(sk_n, needle_v, torch.zeros(1, 1, d, d, **f64), torch.zeros(1, 1, d, **f64), "delta")
    errors = []
    for _ in range(50):
        Mp, zp = memory_update(sk_f, filler_v, Mp, zp, "delta")
        errors.append(((memory_read(sk_n.unsqueeze(2), Mp, zp).squeeze(2) - needle_v).norm() / needle_v.norm()).item())
    variant_error = ((unit(needle_k) @ M - needle_v).norm() / needle_v.norm()).item()
    assert variant_error < 0.5 < errors[-1]


def test_read_cap_brings_loud_reads_to_the_local_scale_and_leaves_quiet_ones():
    g = torch.Generator().manual_seed(3)
    local = torch.randn(2, 9, 5, 64, generator=g, dtype=torch.float64)
    direction = torch.randn(2, 9, 5, 64, generator=g, dtype=torch.float64)
    local_rms = local.pow(2).mean(-1, keepdim=True).sqrt()
    direction_rms = direction.pow(2).mean(-1, keepdim=True).sqrt()
    loud = direction / direction_rms * local_rms * 30  # 30x the local scale
    quiet = direction / direction_rms * local_rms * 0.2
    capped = cap_to(loud, local)
    # Same direction, the local read's RMS (up to the epsilon under the roots).
    torch.testing.assert_close(capped, loud / 30, rtol=1e-5, atol=0)
    torch.testing.assert_close(cap_to(quiet, local), quiet, rtol=0, atol=0)
    # A limit of 4: the loud read comes down to 4x the local RMS, a 3x read passes as it is.
    torch.testing.assert_close(cap_to(loud, local, limit=4.0), loud * 4 / 30, rtol=1e-5, atol=0)
    torch.testing.assert_close(cap_to(quiet * 15, local, limit=4.0), quiet * 15, rtol=0, atol=0)
    empty = torch.zeros(1, 2, 3, 4, requires_grad=True)  # the first segment's read
    cap_to(empty, torch.randn(1, 2, 3, 4)).sum().backward()
    assert empty.grad.isfinite().all()
