"""The anomaly task's own networks: the error-scale network's range and the inpainting generator's hole."""

import torch


def test_the_error_scale_network_stays_in_its_log_range():
    from GANSynthesisLib.models.networks import ErrorScaleNetwork

    network = ErrorScaleNetwork({"type": "UNetGenerator", "in_channels": 3, "base_width": 4, "depth": 3,
                                 "max_width": 8}).eval()
    with torch.no_grad():
        log_scale = network(torch.randn(4, 3, 16, 16) * 10)
    low, high = ErrorScaleNetwork.log_scale_range
    assert log_scale.shape == (4, 1, 16, 16) and (log_scale >= low).all() and (log_scale <= high).all()


def test_the_inpainting_generator_draws_only_inside_the_hole():
    from GANSynthesisLib.models.networks import InpaintingGenerator
    from GANSynthesisLib.tasks.anomaly.detection import inpainting_input

    generator = InpaintingGenerator({"type": "UNetGenerator", "in_channels": 2, "base_width": 4, "depth": 3,
                                     "max_width": 8}).eval()
    tiles = torch.rand(3, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        fill = generator(inpainting_input(tiles, 4))
    hole = inpainting_input(tiles, 4)[:, 1:2].bool()
    assert torch.equal(fill[~hole], tiles[~hole])  # the context comes back exactly
    assert not torch.equal(fill[hole], tiles[hole]) and not (fill[hole] == 0).all()  # the hole is drawn
