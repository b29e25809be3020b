"""Label vocabularies: the MM-WHS structures, the whole-body classes and TotalSegmentator's numbering."""
