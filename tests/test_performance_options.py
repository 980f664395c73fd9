"""Speed and memory options: bfloat16, remat, prepared params, the Gram gradient, the auto remat choice."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst import objective, optimize, vgg
from jax_nst.objective.style_losses import gram
from jax_nst.optimize import memory
from jax_nst.errors import NSTError
from jax_nst.settings import Settings

import tiny


BLOCK3 = {"style_layers": "conv1_1,conv3_1", "content_layers": "conv3_1"}
"""Through conv3_1: 64-, 128- and 256-channel convolutions (the last as Winograd on CPU), in a fifth of the full
network's compile time."""


def setup(params, content, style, s: Settings):
    """A perturbed start image and the unbatched targets of ``s``."""
    c = jnp.asarray(content)
    targets = objective.targets.build(params, np.asarray(content)[None], [np.asarray(style)], s.program())
    targets = objective.first_image(targets)
    noise = jax.random.uniform(jax.random.PRNGKey(0), c.shape, minval=-0.1, maxval=0.1)
    return jnp.clip(c + noise, 0.0, 1.0), targets


def loss(params, x, targets, s: Settings, prepare: bool = True):
    """L_total at x, as the loop evaluates it (remat as ``s`` says)."""
    program = s.program()
    prepared = vgg.prepare(params, program.conv, program.precision) if prepare else None
    return objective.evaluate(params, prepared, x, targets, s.hyper(), program, s.remat == "on")[0]


def value_and_grad(params, x, targets, s: Settings):
    """L_total and ∇L_total at x, as the loop evaluates them."""
    return jax.jit(jax.value_and_grad(lambda p, y, t: loss(p, y, t, s), argnums=1))(params, x, targets)


def test_bfloat16_loss_is_within_two_percent_of_float32(params, content_small, style_small):
    s32 = Settings(size=48, **BLOCK3)
    s16 = s32.replace(precision="bfloat16")
    x, t32 = setup(params, content_small, style_small, s32)
    _, t16 = setup(params, content_small, style_small, s16)
    (v32, g32), (v16, g16) = value_and_grad(params, x, t32, s32), value_and_grad(params, x, t16, s16)
    assert g16.dtype == jnp.float32
    assert abs(float(v16) / float(v32) - 1) < 0.02
    cosine = jnp.vdot(g16, g32) / (jnp.linalg.norm(g16) * jnp.linalg.norm(g32))
    assert float(cosine) > 0.98


def test_bfloat16_features_are_float32_outputs(params, content_small):
    feats = vgg.features(params, jnp.asarray(content_small)[None], ["conv1_1", "conv3_1"], precision="bfloat16")
    ref = vgg.features(params, jnp.asarray(content_small)[None], ["conv1_1", "conv3_1"])
    for name, f in feats.items():
        assert f.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(f), np.asarray(ref[name]), atol=0.03 * float(jnp.abs(ref[name]).max()))


def test_remat_gives_the_same_loss_and_gradient(params, content_small, style_small):
    off = Settings(size=48, remat="off", **tiny.LAYERS)
    x, targets = setup(params, content_small, style_small, off)
    v0, g0 = value_and_grad(params, x, targets, off)
    v1, g1 = value_and_grad(params, x, targets, off.replace(remat="on"))
    np.testing.assert_allclose(float(v1), float(v0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=1e-4, atol=1e-4 * float(jnp.abs(g0).max()))


def test_remat_on_puts_checkpoints_in_the_computation(params, content_small, style_small):
    s = Settings(size=48, remat="on", **tiny.LAYERS)
    x, targets = setup(params, content_small, style_small, s)
    jaxpr = str(jax.make_jaxpr(lambda y: loss(params, y, targets, s))(x))
    assert "checkpoint" in jaxpr or "remat" in jaxpr
    plain = str(jax.make_jaxpr(lambda y: loss(params, y, targets, s.replace(remat="off")))(x))
    assert "checkpoint" not in plain and "remat" not in plain


def test_auto_remat_turns_on_when_the_estimate_exceeds_the_budget(monkeypatch):
    s = Settings(size=256)
    need = memory.evaluation_bytes((170, 256), s, remat=False)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int(need / memory.HEADROOM) - 1)
    assert memory.use_remat(s, (170, 256, 3)) and memory.resolve(s.program(), (170, 256, 3)).remat == "on"
    assert not memory.use_remat(s.replace(remat="off"), (170, 256, 3))
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int(need / memory.HEADROOM) + 1)
    assert not memory.use_remat(s, (170, 256, 3)) and memory.resolve(s.program(), (170, 256, 3)).remat == "off"
    assert memory.use_remat(s.replace(remat="on"), (170, 256, 3))
    assert memory.use_remat(s, (4, 170, 256, 3))  # a batch of four needs four times as much


def test_a_refusal_names_the_shorter_history_or_adam_when_the_optimizer_keeps_an_image_out(monkeypatch):
    s, hw = Settings(), (2000, 3000)
    thinnest = -(-hw[0] // vgg.min_side(s.layers))  # bands of 16 rows: activations no longer count
    short, full = (memory.needed_bytes(hw, s.replace(lbfgs_memory=m), bands=thinnest) for m in (10, s.lbfgs_memory))
    adam = memory.needed_bytes(hw, s.replace(optimizer="adam"), bands=thinnest)
    assert adam < short < full  # 2m + 4 image-sized arrays; Adam keeps 5
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int((short + full) / 2 / memory.HEADROOM))
    with pytest.raises(NSTError, match="they fit with --lbfgs-memory 10, or a size of [0-9]+ px fits"):
        memory.check_fits(hw, s)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int((adam + short) / 2 / memory.HEADROOM))
    with pytest.raises(NSTError, match="they fit with --optimizer adam, or a size of [0-9]+ px fits"):
        memory.check_fits(hw, s)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int(adam / 2 / memory.HEADROOM))
    with pytest.raises(NSTError) as refused:
        memory.check_fits(hw, s)
    assert "they fit with" not in str(refused.value)


def test_memory_estimate_grows_with_the_pixels_and_covers_the_deepest_layer():
    s = Settings()
    fixed = memory.evaluation_bytes((1, 1), s, False)
    small, large = (memory.evaluation_bytes(hw, s, False) - fixed for hw in ((100, 150), (200, 300)))
    assert 3.5 < large / small < 4.5
    assert list(vgg.shapes((64, 64), s.layers))[-1] == "conv5_1"
    assert vgg.shapes((64, 64), s.layers)["conv3_1"] == (16, 16, 256)
    assert vgg.shapes((33, 17), ["conv2_1"]) == {"conv1_1": (33, 17, 64), "conv1_2": (33, 17, 64), "conv2_1": (16, 8, 128)}
    assert memory.available_bytes() > 0


def test_prepared_kernels_give_the_same_loss_and_gradient(params, content_small, style_small):
    s = Settings(size=48, **BLOCK3)
    ready = vgg.prepare(params)
    np.testing.assert_array_equal(np.asarray(ready["conv1_1"]["adjoint"]),
                                  np.asarray(vgg.adjoint_kernel(jnp.asarray(params["conv1_1"]["kernel"]))))
    assert ready["conv5_1"]["forward"].shape == ((16, 512, 512) if jax.default_backend() == "cpu" else (3, 3, 512, 512))
    x, targets = setup(params, content_small, style_small, s)
    f = jax.jit(jax.value_and_grad(lambda y, prepare: loss(params, y, targets, s, prepare)), static_argnums=1)
    (v1, g1), (v0, g0) = f(x, True), f(x, False)
    np.testing.assert_allclose(float(v1), float(v0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=1e-5, atol=1e-6 * float(jnp.abs(g0).max()))


def test_gram_gradient_equals_autodiff():
    rng = np.random.default_rng(0)
    f = jnp.asarray(rng.standard_normal((2, 5, 7, 6)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((2, 6, 6)), jnp.float32)
    ours = jax.grad(lambda a: jnp.sum(w * gram.gram_matrix(a, normalize=True)))(f)
    plain = lambda a: jnp.einsum("...ki,...kj->...ij", a.reshape(2, 35, 6), a.reshape(2, 35, 6)) / 35  # noqa: E731
    ref = jax.grad(lambda a: jnp.sum(w * plain(a)))(f)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-5, atol=1e-6)


def test_precision_and_remat_are_validated_and_change_the_compiled_loop():
    with pytest.raises(NSTError, match="precision"):
        Settings(precision="float16")
    with pytest.raises(NSTError, match="remat"):
        Settings(remat="sometimes")
    base = Settings().program()
    assert Settings(precision="bfloat16").program() != base
    assert Settings(remat="on").program() != base
    assert Settings(style_weight=5.0, content_weight=2.0, tv_weight=1.0, learning_rate=0.5).program() == base


def test_cpu_loops_compile_with_the_memory_optimized_scheduler():
    options = optimize.compiler_options()
    if jax.default_backend() == "cpu":
        assert options == {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
    else:
        assert options == {}


def test_a_cpu_run_calls_lapack_with_one_blas_thread_and_gives_the_threads_back(content_small, style_small):
    """The W2 loss's eigh runs in LAPACK under XLA:CPU's pool: OpenBLAS's own threads would oversubscribe the cores."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    import scipy.linalg.cython_lapack  # noqa: F401  the LAPACK XLA:CPU calls, so that it is counted before the run
    before, during = blas_threads(), []
    jax_nst.stylize(content_small, style_small, size=32, steps=2, report_every=1, style_loss="mean_cov",
                    callback=lambda p: during.append(blas_threads()), **tiny.LAYERS)
    if jax.default_backend() == "cpu":
        assert during and all(t == {1} for t in during)
    assert blas_threads() == before


def test_winograd_kernel_transform_equals_the_matrix_products():
    """U = G g Gᵀ per tile position, as (16, in, out)."""
    rng = np.random.default_rng(2)
    g = rng.standard_normal((3, 3, 5, 7)).astype(np.float64)
    G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    ref = np.einsum("ai,ijcd,bj->abcd", G, g, G).reshape(16, 5, 7)
    u = vgg.winograd_kernel(jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(np.asarray(u), ref, rtol=1e-5, atol=1e-6)


def test_winograd_convolution_equals_the_direct_one_with_its_gradient():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 7, 10, 256)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 3, 256, 260)) * 0.05, jnp.float32)
    fast = vgg.Fast()
    assert fast.uses_winograd(k) == (jax.default_backend() == "cpu")
    assert not fast.uses_winograd(k[..., :64, :64]) and not fast.uses_winograd(k.astype(jnp.bfloat16))
    y, ref = fast(x, k), vgg.lax_conv(x, k)
    np.testing.assert_allclose(np.asarray(y), np.asarray(ref), atol=1e-5 * float(jnp.abs(ref).max()))
    loss = lambda conv: lambda a: jnp.sum(jnp.sin(conv(a, k)))  # noqa: E731
    g, g_ref = jax.grad(loss(fast))(x), jax.grad(loss(vgg.lax_conv))(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), atol=1e-5 * float(jnp.abs(g_ref).max()))
