#pragma once
/* A test-only crash hook for the crash-torture harness (tests/torture/run.sh).
 *
 * DROVER_CRASH_AT=POINT[:N] in the environment makes the process SIGKILL itself the Nth time (default
 * the first) it reaches the named point, so a test can kill droverd exactly during a pull, a bundle
 * write, a state-file write, a netns set-up, a shim spawn or a stop. Unset (always, outside tests),
 * crash_point() is one compare of a cached NULL. The points: state-write, pull, bundle, netns, spawn,
 * stop (docs in tests/torture/README.md). */

void crash_point(const char *name);
