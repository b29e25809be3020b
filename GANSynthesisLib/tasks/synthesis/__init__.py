"""Label map → synthetic CT: the MM-WHS cardiac model and the whole-body model."""
