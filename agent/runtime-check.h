#pragma once
/* The OCI runtime's version, checked once at start (--runtime-version-check). */

/* mode "refuse" (default): a runtime with a known container escape stops the agent (<0);
 * "warn": it is logged and the agent goes on; "off": nothing is run. Warnings are always logged. */
int agent_runtime_check(const char *runtime_path, const char *mode);
