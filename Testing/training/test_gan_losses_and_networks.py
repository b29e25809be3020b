import math

import pytest
import torch

from GANSynthesisLib.models.networks import PatchDiscriminator, UNetGenerator, count_parameters
from GANSynthesisTraining.loop.losses import AdversarialLoss, gradient_penalty, weighted_l1
from GANSynthesisTraining.loop.trainer import recalibrate_batch_norm

REAL = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
FAKE = torch.tensor([[-3.0, 0.2], [1.5, -0.5]])


def softplus(x):
    return math.log1p(math.exp(x))


def mean(values):
    return sum(values) / len(values)


def test_vanilla_is_binary_cross_entropy_with_logits():
    loss = AdversarialLoss("vanilla")
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    expected_d = 0.5 * (mean([softplus(-x) for x in r]) + mean([softplus(x) for x in f]))
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected_d, rel=1e-6)
    assert loss.generator(FAKE).item() == pytest.approx(mean([softplus(-x) for x in f]), rel=1e-6)


def test_lsgan_is_least_squares_to_one_and_zero():
    loss = AdversarialLoss("lsgan")
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(
        0.5 * (mean([(x - 1) ** 2 for x in r]) + mean([x**2 for x in f])), rel=1e-6)
    assert loss.generator(FAKE).item() == pytest.approx(mean([(x - 1) ** 2 for x in f]), rel=1e-6)


def test_hinge():
    loss = AdversarialLoss("hinge")
    r, f = REAL.flatten().tolist(), FAKE.flatten().tolist()
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(
        mean([max(0, 1 - x) for x in r]) + mean([max(0, 1 + x) for x in f]), rel=1e-6)
    assert loss.generator(FAKE).item() == pytest.approx(-mean(f), rel=1e-6)


def test_wasserstein_losses_and_flag():
    loss = AdversarialLoss("wgan-gp")
    assert loss.needs_gradient_penalty and not AdversarialLoss("lsgan").needs_gradient_penalty
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(FAKE.mean().item() - REAL.mean().item())
    assert loss.generator(FAKE).item() == pytest.approx(-FAKE.mean().item())


def test_gradient_penalty_of_a_linear_critic_is_known_exactly():
    w = torch.tensor([3.0, 4.0])  # gradient of x·w is w everywhere, ‖w‖ = 5
    critic = lambda x: (x * w).sum(dim=1)  # noqa: E731
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert gradient_penalty(critic, real, fake, weight=10.0).item() == pytest.approx(10.0 * (5 - 1) ** 2)


def test_gradient_penalty_pushes_gradients_into_the_critic():
    torch.manual_seed(0)
    critic = PatchDiscriminator(2, base_width=4, n_layers=2, norm="instance")
    real, fake = torch.randn(2, 2, 32, 32), torch.randn(2, 2, 32, 32)
    gradient_penalty(critic, real, fake).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())


def test_weighted_l1():
    assert weighted_l1(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])).item() == pytest.approx(200.0)
    assert weighted_l1(torch.tensor([1.0]), torch.tensor([0.5]), weight=10).item() == pytest.approx(5.0)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="Unknown adversarial loss"):
        AdversarialLoss("wgan")


def test_unet_matches_the_pix2pix_reference_size_and_range():
    generator = UNetGenerator(3, 3, base_width=64, depth=8)  # pix2pix unet_256
    assert count_parameters(generator) == pytest.approx(54.4e6, rel=0.01)
    small = UNetGenerator(8, 1, base_width=8, depth=4, max_width=32).eval()
    out = small(torch.randn(2, 8, 48, 64))
    assert out.shape == (2, 1, 48, 64) and out.abs().max() <= 1.0
    assert small.size_multiple == 16


def test_patchgan_70_gives_30x30_map_for_256_input():
    d = PatchDiscriminator(4, base_width=8, n_layers=3)
    assert d(torch.randn(1, 4, 256, 256)).shape == (1, 1, 30, 30)
    assert PatchDiscriminator(4, base_width=8, n_layers=2)(torch.randn(1, 4, 256, 256)).shape == (1, 1, 62, 62)


def test_residual_generator_corrects_its_input_within_its_scale():
    from GANSynthesisLib.models.networks import ResidualGenerator, build_network, network_spec

    inner = UNetGenerator(1, 1, base_width=4, depth=3, max_width=8)
    generator = ResidualGenerator(network_spec(inner), scale=0.1).eval()
    x = torch.rand(2, 1, 32, 32) * 1.6 - 0.8
    with torch.no_grad():
        y = generator(x)
    assert (y - x).abs().max() <= 0.1 + 1e-6 and generator.size_multiple == 8
    rebuilt = build_network(network_spec(generator)).eval()
    rebuilt.load_state_dict(generator.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(x), y)


def test_batch_norm_recalibration_gives_the_statistics_of_the_networks_own_weights():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    network = torch.nn.Sequential(conv, torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    batches = [torch.randn(4, 2, 8, 8) + 1.5 for _ in range(5)]
    network[1].running_mean.fill_(7.0)  # statistics gathered with other weights, as an EMA copies them
    assert recalibrate_batch_norm(network, iter(batches)) == 5
    with torch.no_grad():
        features = torch.cat([conv(b) for b in batches])
    assert torch.allclose(network[1].running_mean, features.mean((0, 2, 3)), atol=1e-5)
    network.eval()
    recalibrate_batch_norm(network, iter(batches[:1]))
    assert not network.training and network[1].momentum == 0.1
    assert recalibrate_batch_norm(torch.nn.Sequential(conv), iter(batches)) == 0  # no batch norm: nothing to do


def test_pix2pix_export_settles_the_ema_batch_norm(tmp_path):
    from GANSynthesisTraining.data.slice_banks import IMAGE, SliceBank
    from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, Pix2PixTrainer

    torch.manual_seed(0)
    bank = SliceBank(torch.randn(6, 1, 32, 32).half(), (torch.rand(6, 1, 32, 32) * 2 - 1).half(), IMAGE)
    config = Pix2PixConfig(g_base_width=8, g_depth=3, g_max_width=16, ema_decay=0.9, steps=3, batch_size=2,
                           log_every=3, checkpoint_every=100)
    trainer = Pix2PixTrainer(config, bank, tmp_path)
    trainer.train(log=lambda line: None)
    live = [b.clone() for b in trainer.generator.buffers()]
    copied = [b.clone() for b in trainer.ema.average.buffers()]
    assert all(torch.equal(a, b) for a, b in zip(live, copied))  # what the EMA carries before export
    trainer.settle_batch_norm(batches=4)
    settled = [b for b in trainer.ema.average.buffers() if b.dtype.is_floating_point]
    assert any(not torch.allclose(a, b) for a, b in zip(settled, [b for b in live if b.dtype.is_floating_point]))


def test_inpainting_training_settles_its_ema_on_the_holed_tiles_it_fills(tmp_path):
    from GANSynthesisTraining.data.tile_banks import TileBank
    from GANSynthesisTraining.families.inpainting.model import InpaintingBank, InpaintingConfig, InpaintingTrainer

    torch.manual_seed(0)
    bank = InpaintingBank(TileBank(torch.rand(4, 1, 40, 40) * 2 - 1, 32, torch.device("cpu")), 8)
    config = InpaintingConfig(tile=32, hole=8, g_base_width=8, g_depth=3, g_max_width=16, ema_decay=0.9, steps=3,
                              batch_size=2, log_every=3, checkpoint_every=100)
    trainer = InpaintingTrainer(config, bank, tmp_path)
    trainer.train(log=lambda line: None)
    given = trainer.generator_input(trainer.sample())
    assert given.shape == (2, 2, 32, 32) and given[:, 1].sum() == 2 * 8 * 8  # the holed tile and its hole mask
    live = [b.clone() for b in trainer.generator.buffers() if b.dtype.is_floating_point]
    trainer.settle_batch_norm(batches=4)
    settled = [b for b in trainer.ema.average.buffers() if b.dtype.is_floating_point]
    assert any(not torch.allclose(a, b) for a, b in zip(settled, live))
