#!/usr/bin/env bash
# Kept so that `load shim-helpers` still works: every helper lives in helpers.bash (the shim part).
# shellcheck source=tests/integration/helpers.bash
. "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
