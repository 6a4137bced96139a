"""Walk-forward evaluation of the decision policies on real data (`slt evaluate`)."""
