"""Creative controls around the optimization: colours, several styles, masks, coarse-to-fine scales, presets."""
