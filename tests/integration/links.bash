#!/usr/bin/env bash
# Kept so that `load links` still works: every helper lives in helpers.bash (the links part).
# shellcheck source=tests/integration/helpers.bash
. "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
