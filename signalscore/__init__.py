"""signalscore."""
