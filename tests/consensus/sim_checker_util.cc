// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Compiles the simulator's SafetyChecker (tests/sim/checker.cc) into
// consensus_test, so directed scenarios are judged by the same code as the
// randomized simulation.

#include "sim/checker.cc"  // NOLINT(build/include)
