"""Running confirm tests: where their data come from and when they run (the pure part is
:mod:`correlators.confirm`)."""
