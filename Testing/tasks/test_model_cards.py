"""Model cards: what a model is for."""

from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.tasks.model_cards import model_card_html


def test_model_card_says_what_it_is_for(tiny_bundle_dir):
    card = model_card_html(load_bundle(tiny_bundle_dir))
    assert "Intended use: research, not for diagnosis" in card and "left ventricle" in card
