#pragma once
/* The build passes -DDROVER_VERSION="<git describe>"; tools that parse the sources without it
 * (clang-tidy through compile_commands.json) see this fallback. */
#ifndef DROVER_VERSION
#define DROVER_VERSION "unknown"
#endif
