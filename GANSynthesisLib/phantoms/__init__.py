"""Procedural phantoms: thorax and whole-body label maps with CT, MR and low-dose renderings, lesions."""
