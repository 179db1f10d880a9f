"""DVC stage entry points: each parses nothing but its stage arguments and calls mtmh."""
