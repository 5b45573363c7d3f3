#!/usr/bin/env bash
# Kept so that `load cp-helpers` still works: every helper lives in helpers.bash (the control plane part).
# shellcheck source=tests/integration/helpers.bash
. "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
